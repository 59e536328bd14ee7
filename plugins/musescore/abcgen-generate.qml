// abcgen: a new folk tune from the Plugins menu (MuseScore 3.x and 4.x).
// MuseScore 3 opens the MusicXML abcgen writes (readScore); MuseScore 4 has no
// readScore, so the notes go into a new score through the cursor. The .abc,
// .musicxml and .mid stay in the output folder either way.
import QtQuick 2.2
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
    width: 400
    height: 440

    property var config: null
    property var values: ({})
    property var report: ({})
    property var fields: [
        {name: "title", label: "Title", value: ""},
        {name: "meter", label: "Meter (6/8, 4/4, 3/4…)", value: "6/8"},
        {name: "key", label: "Key and mode (D, Em, Ador…)", value: "D"},
        {name: "form", label: "Form (auto, AABB, AB, free…)", value: "auto"},
        {name: "part_bars", label: "Bars a part (16 for airs)", value: "8"},
        {name: "bars", label: "Length in bars (form free)", value: "16"},
        {name: "temperature", label: "Temperature (0.1–2)", value: "1.0"},
        {name: "seed", label: "Seed (empty: random)", value: ""},
        {name: "num", label: "Variations", value: "1"}
    ]

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
        var saved = config.generate || {};
        for (var i = 0; i < fields.length; i++) {
            var f = fields[i];
            values[f.name] = saved[f.name] !== undefined && saved[f.name] !== null ? String(saved[f.name]) : f.value;
        }
        inputs.model = fields; // rebuild the form with the saved values
        if (Abcgen.headless()) { // nobody can press the button: go with the defaults
            generateNow();
            closePlugin();
        }
    }

    // MuseScore 4 closes the whole program on Qt.quit(); it has quit() instead
    function closePlugin() {
        (typeof(quit) === "undefined" ? Qt.quit : quit)();
    }

    function number(name, parse) {
        var v = String(values[name] || "").trim();
        if (v === "") return null;
        var n = parse(v);
        if (isNaN(n)) throw new Error(name + ": not a number: " + v);
        return n;
    }

    function request() {
        var text = function (name) { var v = String(values[name] || "").trim(); return v === "" ? null : v; };
        return {title: text("title") || "", meter: text("meter"), key: text("key"), bars: number("bars", parseInt),
                form: text("form"), part_bars: number("part_bars", parseInt),
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
        if (report.ok && !Abcgen.headless())
            closePlugin();
    }

    Rectangle {
        anchors.fill: parent
        color: "#f4f4f4"

        Column {
            anchors.fill: parent
            anchors.margins: 12
            spacing: 6

            Repeater {
                id: inputs
                model: []
                Row {
                    spacing: 8
                    Text { width: 190; text: modelData.label; anchors.verticalCenter: parent.verticalCenter }
                    Rectangle {
                        width: 170; height: 26; color: "white"; border.color: "#999"
                        TextInput {
                            anchors.fill: parent
                            anchors.margins: 4
                            clip: true
                            selectByMouse: true
                            text: plugin.values[modelData.name] || ""
                            onTextChanged: plugin.values[modelData.name] = text
                        }
                    }
                }
            }

            Text {
                id: status
                width: parent.width
                wrapMode: Text.Wrap
                color: "#a00"
                text: ""
            }

            Row {
                spacing: 10
                Rectangle {
                    width: 110; height: 30; radius: 4; color: "#2a6ebb"
                    Text { anchors.centerIn: parent; text: "Generate"; color: "white" }
                    MouseArea {
                        anchors.fill: parent
                        onClicked: { status.color = "#333"; status.text = "Generating…"; later.start(); }
                    }
                }
                Rectangle {
                    width: 90; height: 30; radius: 4; color: "#ccc"
                    Text { anchors.centerIn: parent; text: "Cancel" }
                    MouseArea { anchors.fill: parent; onClicked: closePlugin() }
                }
            }
        }
    }
}
