// abcgen: continue the selected passage of one staff (MuseScore 3.x and 4.x).
// The selection (notes, key signature, time signature) goes to abcgen as the
// prime; the new notes are written after it with the cursor. Where this
// MuseScore's cursor cannot write something (MuseScore 3.2: rests, tuplets,
// chords, ties), the continued tune is opened as a new score instead.
import QtQuick 2.9
import QtQuick.Controls 2.2
import QtQuick.Layouts 1.3
import Qt.labs.settings 1.0
import MuseScore 3.0
import FileIO 3.0
import "abcgen.js" as Abcgen

MuseScore {
    id: plugin
    //4.4 title: "abcgen: Continue selection…"
    //4.4 categoryCode: "composing-arranging-tools"
    menuPath: "Plugins.abcgen.Continue selection…"
    description: "Continues the selected notes of one staff with abcgen's model, in the score's key and meter."
    version: "0.1.0"
    requiresScore: true
    pluginType: "dialog"
    width: 430
    height: 400

    property var config: null
    property var values: ({})
    property var report: ({})
    property bool busy: false
    property var initial: ({}) // what the form opens with; `values` follows the edits
    // choices: a list in Abcgen.CHOICES; editable: free text accepted beside it
    property var fields: [
        {name: "mode", label: "Mode", value: "major", choices: "mode"},
        {name: "form", label: "Form", value: "free", choices: "form", editable: true},
        {name: "part_bars", label: "Bars a part", value: "8", choices: "part_bars", editable: true},
        {name: "bars", label: "Bars to add (form free)", value: "8"},
        {name: "temperature", label: "Temperature (0.1–2)", value: "1.0"},
        {name: "seed", label: "Seed (empty: random)", value: ""}
    ]

    Settings { id: remembered; category: "abcgen-continue"; property string last: "" }
    QProcess { id: proc }
    FileIO { id: file }
    Timer { id: later; interval: 30; onTriggered: continueNow() }

    Component.onCompleted: {
        if (mscoreMajorVersion >= 4 && mscoreMinorVersion <= 3) {
            plugin.title = "abcgen: Continue selection…";
            plugin.categoryCode = "composing-arranging-tools";
        }
    }

    onRun: {
        report = {command: "continue", started: Date.now(), headless: Abcgen.headless()};
        try {
            config = Abcgen.readJson(file, Abcgen.localPath(Qt.resolvedUrl("abcgen-config.json")));
        } catch (e) {
            status.text = e.message;
            console.log("abcgen: " + e.message);
            if (Abcgen.headless()) closePlugin();
            return;
        }
        initial = Abcgen.startValues(fields, config["continue"], remembered.last);
        values = JSON.parse(JSON.stringify(initial));
        inputs.model = fields; // rebuild the form with these values
        if (Abcgen.headless()) { // nobody can press the button: go with the values
            continueNow();
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

    function number(name, parse) {
        return Abcgen.numberIn(values, name, parse);
    }

    function continueNow() {
        Abcgen.remember(remembered, values); // the dialog opens with these next time
        var score = curScore;
        try {
            if (!score) throw new Error("open a score and select the notes to continue");
            var range = Abcgen.selectionRange(score, Element);
            if (!range && Abcgen.headless()) { // nobody can select: take everything
                cmd("select-all");
                range = Abcgen.selectionRange(score, Element);
            }
            if (!range) throw new Error("select the notes to continue first (one staff)");
            var selection = Abcgen.selectionJson(score, range, String(values.mode || "major").trim().toLowerCase(), Element);
            report.selection = selection;
            var answer = Abcgen.callAbcgen(proc, file, config, "continue", {
                title: score.title || "", selection: selection, bars: number("bars", parseInt),
                form: String(values.form || "").trim() || null, part_bars: number("part_bars", parseInt),
                temperature: number("temperature", parseFloat), seed: number("seed", parseInt),
                model: config.model});
            report.abcgen_ms = Date.now() - report.started;
            report.answer = answer;
            var tune = answer.tunes[0];
            var at = range.to;
            var after = Abcgen.readStaff(score, range.staff, at, score.lastSegment.tick, Element);
            for (var i = 0; i < after.length; i++)
                if (after[i].pitches) { at = score.lastSegment.tick; break; } // never overwrite notes
            var missing = Abcgen.missingFeatures(score, tune.notes, mscoreVersion);
            if (missing.length && mscoreMajorVersion < 4) {
                var opened = readScore(tune.files.musicxml, true);
                if (!opened) throw new Error("MuseScore could not open " + tune.files.musicxml);
                report.written = {how: "readScore", missing: missing, path: tune.files.musicxml,
                                  at: range.to - range.from, // the new notes follow the prime
                                  notes: Abcgen.readStaff(opened, 0, 0, opened.lastSegment.tick, Element)};
            } else {
                score.startCmd();
                Abcgen.writeItems(plugin, score, range.staff, at, tune.notes, Element);
                score.endCmd();
                report.written = {how: "cursor", staff: range.staff, at: at,
                                  notes: Abcgen.readStaff(score, range.staff, at, at + Abcgen.itemTicks(tune.notes), Element)};
            }
            report.ok = true;
            report.total_ms = Date.now() - report.started;
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

    // Tab goes through every field and both buttons; Enter continues, Escape cancels.
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
                Button { text: "Continue"; highlighted: true; enabled: !plugin.busy; onClicked: start() }
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
