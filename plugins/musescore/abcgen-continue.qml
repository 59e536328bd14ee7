// abcgen: continue the selected passage of one staff (MuseScore 3.x and 4.x).
// The selection (notes, key signature, time signature) goes to abcgen as the
// prime; the new notes are written after it with the cursor. Where this
// MuseScore's cursor cannot write something (MuseScore 3.2: rests, tuplets,
// chords, ties), the continued tune is opened as a new score instead.
import QtQuick 2.2
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
    width: 400
    height: 320

    property var config: null
    property var values: ({})
    property var report: ({})
    property var fields: [
        {name: "mode", label: "Mode (major, minor, dorian…)", value: "major"},
        {name: "form", label: "Form (free, auto, AABB…)", value: "free"},
        {name: "part_bars", label: "Bars a part (16 for airs)", value: "8"},
        {name: "bars", label: "Bars to add (form free)", value: "8"},
        {name: "temperature", label: "Temperature (0.1–2)", value: "1.0"},
        {name: "seed", label: "Seed (empty: random)", value: ""}
    ]

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
        var saved = config["continue"] || {};
        for (var i = 0; i < fields.length; i++) {
            var f = fields[i];
            values[f.name] = saved[f.name] !== undefined && saved[f.name] !== null ? String(saved[f.name]) : f.value;
        }
        inputs.model = fields;
        if (Abcgen.headless()) {
            continueNow();
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

    function continueNow() {
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
                    Text { anchors.centerIn: parent; text: "Continue"; color: "white" }
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
