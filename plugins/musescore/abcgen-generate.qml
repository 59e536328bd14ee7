// abcgen: a new folk tune from the Plugins menu (MuseScore 3.x and 4.x).
// MuseScore 3 opens the MusicXML abcgen writes (readScore); MuseScore 4 has no
// readScore, so the notes go into a new score through the cursor. The .abc,
// .musicxml and .mid stay in the output folder either way.
import QtQuick 2.9
import QtQuick.Controls 2.2
import QtQuick.Layouts 1.3
import Qt.labs.settings 1.0
import MuseScore 3.0
import FileIO 3.0
import "abcgen.js" as Abcgen

MuseScore {
    id: plugin
    //4.4 title: "abcgen: Generate tune…"
    //4.4 categoryCode: "composing-arranging-tools"
    menuPath: "Plugins.abcgen.Generate tune…"
    description: "A new folk tune from abcgen's model, opened as a score; the .abc, .musicxml and .mid stay in abcgen's folder."
    version: "0.1.0"
    requiresScore: false
    pluginType: "dialog"
    width: 430
    height: 560

    property var config: null
    property var values: ({})
    property var report: ({})
    property bool busy: false
    property var initial: ({}) // what the form opens with; `values` follows the edits
    // choices: a list in Abcgen.CHOICES; editable: free text accepted beside it
    property var fields: [
        {name: "title", label: "Title", value: ""},
        {name: "meter", label: "Meter", value: "6/8", choices: "meter", editable: true},
        {name: "tonic", label: "Key", value: "D", choices: "tonic", editable: true},
        {name: "mode", label: "Mode", value: "major", choices: "mode"},
        {name: "form", label: "Form", value: "auto", choices: "form", editable: true},
        {name: "part_bars", label: "Bars a part", value: "8", choices: "part_bars", editable: true},
        {name: "bars", label: "Length in bars (form free)", value: "16"},
        {name: "temperature", label: "Temperature (0.1–2)", value: "1.0"},
        {name: "seed", label: "Seed (empty: random)", value: ""},
        {name: "num", label: "Variations", value: "1"}
    ]

    Settings { id: remembered; category: "abcgen-generate"; property string last: "" }
    QProcess { id: proc }
    FileIO { id: file }
    Timer { id: later; interval: 30; onTriggered: generateNow() }

    Component.onCompleted: {
        if (mscoreMajorVersion >= 4 && mscoreMinorVersion <= 3) {
            plugin.title = "abcgen: Generate tune…";
            plugin.categoryCode = "composing-arranging-tools";
        }
    }

    onRun: {
        report = {command: "generate", started: Date.now(), headless: Abcgen.headless()};
        try {
            config = Abcgen.readJson(file, Abcgen.localPath(Qt.resolvedUrl("abcgen-config.json")));
        } catch (e) {
            status.text = e.message;
            console.log("abcgen: " + e.message);
            if (Abcgen.headless()) closePlugin();
            return;
        }
        var preset = JSON.parse(JSON.stringify(config.generate || {}));
        if (preset.key) {
            var key = Abcgen.splitKey(preset.key);
            preset.tonic = key.tonic;
            preset.mode = key.mode;
        }
        initial = Abcgen.startValues(fields, preset, remembered.last);
        values = JSON.parse(JSON.stringify(initial));
        inputs.model = fields; // rebuild the form with these values
        if (Abcgen.headless()) { // nobody can press the button: go with the values
            generateNow();
            closePlugin();
        }
    }

    function start() {
        if (busy) return;
        busy = true;
        status.color = "#333";
        status.text = "Generating…";
        later.start(); // paints the busy state before abcgen runs
    }

    // MuseScore 4 closes the whole program on Qt.quit(); it has quit() instead
    function closePlugin() {
        (typeof(quit) === "undefined" ? Qt.quit : quit)();
    }

    function request() {
        var text = function (name) { var v = String(values[name] || "").trim(); return v === "" ? null : v; };
        var number = function (name, parse) { return Abcgen.numberIn(values, name, parse); };
        return {title: text("title") || "", meter: text("meter"), key: Abcgen.joinKey(values.tonic, values.mode),
                bars: number("bars", parseInt), form: text("form"), part_bars: number("part_bars", parseInt),
                temperature: number("temperature", parseFloat), seed: number("seed", parseInt),
                num: number("num", parseInt) || 1, model: config.model};
    }

    function open(tune) {
        if (mscoreMajorVersion < 4) {
            var score = readScore(tune.files.musicxml, true);
            if (!score) throw new Error("MuseScore could not open " + tune.files.musicxml);
            return {how: "readScore", path: tune.files.musicxml, title: score.title,
                    notes: Abcgen.readStaff(score, 0, 0, score.lastSegment.tick, Element)};
        }
        var s = newScore(tune.title, "violin", 1);
        s.startCmd();
        var c = s.newCursor();
        c.track = 0;
        c.rewind(0);
        if (tune.time) {
            var ts = newElement(Element.TIMESIG);
            ts.timesig = fraction(tune.time.numerator, tune.time.denominator);
            c.add(ts);
        }
        if (tune.key && tune.key.fifths !== 0) {
            try { // best effort: the notes carry their spelling (tpc) either way
                var ks = newElement(Element.KEYSIG);
                ks.key = tune.key.fifths;
                c.rewind(0);
                c.add(ks);
            } catch (e) {
                console.log("abcgen: no key signature: " + e.message);
            }
        }
        s.addText("title", tune.title);
        Abcgen.writeItems(plugin, s, 0, 0, tune.notes, Element);
        s.endCmd();
        return {how: "cursor", title: tune.title, notes: Abcgen.readStaff(s, 0, 0, s.lastSegment.tick, Element)};
    }

    function generateNow() {
        Abcgen.remember(remembered, values); // the dialog opens with these next time
        try {
            var answer = Abcgen.callAbcgen(proc, file, config, "generate", request());
            report.abcgen_ms = Date.now() - report.started;
            report.answer = answer;
            report.opened = [];
            for (var i = 0; i < answer.tunes.length; i++)
                report.opened.push(open(answer.tunes[i]));
            report.ok = true;
            report.total_ms = Date.now() - report.started;
            status.text = "Opened " + answer.tunes.length + " tune(s); files in " + config.out_dir;
        } catch (e) {
            report.ok = false;
            report.error = e.message;
            status.text = "abcgen: " + e.message;
            console.log("abcgen: " + e.message);
        }
        try {
            Abcgen.writeJson(file, config.out_dir + "/abcgen-plugin-last.json", report);
        } catch (e2) {
            console.log("abcgen: " + e2.message);
        }
        busy = false;
        if (report.ok && !Abcgen.headless())
            closePlugin();
    }

    // Tab goes through every field and both buttons; Enter generates, Escape cancels.
    FocusScope {
        id: dialog
        anchors.fill: parent
        focus: true
        Keys.onReturnPressed: start()
        Keys.onEnterPressed: start()
        Keys.onEscapePressed: closePlugin()

        Rectangle { anchors.fill: parent; color: "#f4f4f4" }

        ColumnLayout {
            anchors.fill: parent
            anchors.margins: 12
            spacing: 4

            Repeater {
                id: inputs
                model: []
                RowLayout {
                    Layout.fillWidth: true
                    Label { text: modelData.label; Layout.preferredWidth: 170 }
                    TextField {
                        visible: !modelData.choices
                        focus: index === 0
                        Layout.fillWidth: true
                        selectByMouse: true
                        text: plugin.initial[modelData.name] || ""
                        onTextChanged: plugin.values[modelData.name] = text
                        onAccepted: start()
                        Accessible.name: modelData.label
                    }
                    ComboBox {
                        visible: !!modelData.choices
                        focus: index === 0
                        Layout.fillWidth: true
                        editable: !!modelData.editable
                        model: modelData.choices ? Abcgen.CHOICES[modelData.choices] : []
                        Component.onCompleted: {
                            var v = String(plugin.initial[modelData.name] || "");
                            currentIndex = find(v);
                            if (editable) editText = v; // free text stays as typed
                        }
                        onEditTextChanged: if (editable) plugin.values[modelData.name] = editText
                        onActivated: plugin.values[modelData.name] = currentText
                        onAccepted: start()
                        Accessible.name: modelData.label
                    }
                }
            }

            RowLayout {
                Layout.fillWidth: true
                BusyIndicator { running: plugin.busy; visible: plugin.busy; Layout.preferredHeight: 28; Layout.preferredWidth: 28 }
                Text {
                    id: status
                    Layout.fillWidth: true
                    wrapMode: Text.Wrap
                    color: "#a00"
                    text: ""
                }
            }

            RowLayout {
                spacing: 10
                Button { text: "Generate"; highlighted: true; enabled: !plugin.busy; onClicked: start() }
                Button {
                    text: "Cancel"
                    onClicked: closePlugin()
                    Keys.onReturnPressed: closePlugin()
                    Keys.onEnterPressed: closePlugin()
                }
            }
        }
    }
}
