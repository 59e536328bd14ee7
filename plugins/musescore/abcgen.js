// Shared by the abcgen plugins (MuseScore 3.x and 4.x): config, the call to
// abcgen, reading a selection and writing notes with the cursor.
// Score text never reaches a command line: it goes into a request file, and
// abcgen gets only that file's path and the output folder.
.pragma library

var TICKS = 1920; // MuseScore ticks per whole note
// BarLineType -> ABC: normal, double, end repeat, final, end-start repeat
var BARLINES = {1: "|", 2: "||", 8: ":|", 32: "|]", 64: "::"};

// The dialogs' lists (free text is accepted beside them where it makes sense).
var CHOICES = {
    meter: ["6/8", "2/2", "4/4", "3/4", "2/4", "9/8", "3/2", "6/4", "3/8", "4/2", "12/8", "C", "C|"],
    tonic: ["C", "G", "D", "A", "E", "B", "F#", "F", "Bb", "Eb", "Ab"],
    mode: ["major", "minor", "dorian", "mixolydian", "phrygian", "lydian", "locrian"],
    form: ["auto", "free", "AABB", "AB", "AAB", "ABC", "AABBCC", "A"],
    part_bars: ["4", "8", "12", "16"]
};
var MODE_SUFFIX = {major: "", minor: "m", dorian: "dor", mixolydian: "mix", phrygian: "phr",
                   lydian: "lyd", locrian: "loc"};

// "Ador" -> {tonic: "A", mode: "dorian"}; a key abcgen would refuse stays whole as the tonic.
function splitKey(key) {
    var m = /^\s*([A-Ga-g][#b]?)\s*([A-Za-z]*)\s*$/.exec(String(key || ""));
    var word = m ? m[2].toLowerCase() : null;
    for (var mode in MODE_SUFFIX)
        if (m && (word === MODE_SUFFIX[mode] || word === mode || word === mode.substring(0, 3)))
            return {tonic: m[1].charAt(0).toUpperCase() + m[1].substring(1), mode: mode};
    return {tonic: String(key || ""), mode: "major"};
}

function joinKey(tonic, mode) {
    tonic = String(tonic || "").trim();
    return tonic === "" ? null : tonic + (MODE_SUFFIX[mode] || "");
}

// A dialog's starting values: its fields' defaults, then the config's presets,
// then the choices remembered from the last run (a JSON text).
function startValues(fields, preset, remembered) {
    var last = {};
    try { last = JSON.parse(remembered || "{}") || {}; } catch (e) { last = {}; }
    var values = {};
    for (var i = 0; i < fields.length; i++) {
        var name = fields[i].name;
        var v = fields[i].value;
        if (preset && preset[name] !== undefined && preset[name] !== null) v = String(preset[name]);
        if (last[name] !== undefined && last[name] !== null) v = String(last[name]);
        values[name] = v;
    }
    return values;
}

// Keep a dialog's values for its next run, on disk now: MuseScore may exit right after.
function remember(settings, values) {
    var text = JSON.stringify(values);
    settings.last = text;
    if (typeof settings.setValue === "function") settings.setValue("last", text);
    if (typeof settings.sync === "function") settings.sync();
}

// The number in a dialog field, null when empty; an Error naming the field otherwise.
function numberIn(values, name, parse) {
    var v = String(values[name] || "").trim();
    if (v === "") return null;
    var n = parse(v);
    if (isNaN(n)) throw new Error(name + ": not a number: " + v);
    return n;
}

// True where no one can answer a dialog (mscore -p under QT_QPA_PLATFORM=offscreen).
function headless() {
    var p = Qt.platform.pluginName;
    return p === "offscreen" || p === "minimal";
}

function localPath(url) {
    var s = decodeURIComponent(url.toString().replace(/^file:\/\//, ""));
    return /^\/[A-Za-z]:/.test(s) ? s.substring(1) : s; // file:///C:/... on Windows
}

function readJson(fileio, path) {
    fileio.source = path;
    if (!fileio.exists())
        throw new Error("missing " + path + ": run `abcgen plugin install` again");
    return JSON.parse(fileio.read());
}

function writeJson(fileio, path, value) {
    fileio.source = path;
    if (!fileio.write(JSON.stringify(value, null, 1)))
        throw new Error("cannot write " + path);
}

// MuseScore 3 splits QProcess.start's one string on blanks, grouping only "...":
// quote every argument and refuse the one character that cannot be quoted.
function quoted(arg) {
    if (arg.indexOf('"') >= 0)
        throw new Error("cannot pass a path with a double quote to abcgen: " + arg);
    return '"' + arg + '"';
}

// Runs `abcgen plugin COMMAND --request REQ --out-dir DIR`; returns its JSON answer.
function callAbcgen(proc, fileio, config, command, request) {
    var requestPath = config.out_dir + "/abcgen-request.json";
    writeJson(fileio, requestPath, request);
    var args = ["plugin", command, "--request", requestPath, "--out-dir", config.out_dir];
    var started = Date.now();
    if (typeof proc.startWithArgs === "function") { // 4.3+
        proc.startWithArgs(config.abcgen, args);
    } else {
        proc.start([config.abcgen].concat(args).map(quoted).join(" "));
    }
    var finished = proc.waitForFinished(120000);
    var out = String(proc.readAllStandardOutput() || "").trim();
    var lines = out.split("\n");
    var last = lines[lines.length - 1];
    if (!last) {
        if (!finished && Date.now() - started < 110000)
            throw new Error("could not run abcgen at " + config.abcgen
                            + " (reinstall the plugin with `abcgen plugin install`)");
        throw new Error(finished ? "abcgen failed without a message; run it in a terminal: "
                                   + config.abcgen + " plugin " + command + " --request "
                                   + requestPath + " --out-dir " + config.out_dir
                                 : "abcgen did not answer within two minutes");
    }
    var answer;
    try {
        answer = JSON.parse(last);
    } catch (e) {
        throw new Error("abcgen answered something unexpected: " + last.substring(0, 200));
    }
    if (!answer.ok)
        throw new Error(answer.error || "abcgen failed");
    return answer;
}

// ------------------------------------------------------------------ reading a score

function reduce(n, d) {
    var a = n, b = d;
    while (b) { var t = a % b; a = b; b = t; }
    return [n / a, d / a];
}

// The chords and rests of one staff (voice 1) from fromTick up to toTick, with
// their sounding length in ticks (MuseScore 3.2 does not expose tuplets).
function readStaff(score, staff, fromTick, toTick, E) {
    var c = cursorAt(score, staff, fromTick);
    var out = [];
    while (c.segment && c.tick < toTick) {
        var e = c.element;
        var tick = c.tick;
        var measureTick = c.measure.firstSegment.tick;
        var measureEnd = c.measure.lastSegment.tick;
        var barline = c.measure.lastSegment.elementAt(staff * 4);
        // a wrapped enum: String() names the type, its primitive value is the number
        var barlineType = barline ? parseInt("" + barline.barlineType, 10) : 1;
        var timesig = c.measure.timesigNominal;
        var keysig = c.keySignature;
        c.next();
        var end = (c.segment && c.tick <= measureEnd) ? c.tick : measureEnd;
        var item = {tick: tick, ticks: end - tick, measure: measureTick, measureEnd: measureEnd,
                    barline: BARLINES[barlineType] || "|", keysig: keysig,
                    time: [timesig.numerator, timesig.denominator],
                    duration: [e.duration.numerator, e.duration.denominator]};
        if (e.type === E.CHORD) {
            item.pitches = [];
            for (var i = 0; i < e.notes.length; i++) {
                var n = e.notes[i];
                var p = {pitch: n.pitch, tpc: n.tpc};
                if (n.tieForward !== undefined)
                    p.tie = n.tieForward !== null;
                item.pitches.push(p);
            }
        }
        out.push(item);
    }
    return out;
}

// Where the selection is: {staff, from, to} in ticks, or null when nothing is selected.
function selectionRange(score, E) {
    var c = score.newCursor();
    c.rewind(1); // SELECTION_START: only for a range selection
    if (c.segment) {
        var range = {staff: c.staffIdx, from: c.tick};
        c.rewind(2); // SELECTION_END
        range.to = c.segment ? c.tick : score.lastSegment.tick;
        return range;
    }
    var els = score.selection ? score.selection.elements : [];
    var from = -1, to = -1, staff = 0;
    for (var i = 0; i < els.length; i++) {
        var el = els[i];
        var seg = el.type === E.NOTE ? el.parent.parent : (el.type === E.CHORD || el.type === E.REST) ? el.parent : null;
        if (!seg)
            continue;
        if (from < 0 || seg.tick < from) { from = seg.tick; staff = Math.floor(el.track / 4); }
        if (seg.tick + 1 > to) to = seg.tick + 1;
    }
    return from < 0 ? null : {staff: staff, from: from, to: to};
}

// The selection as abcgen's selection JSON (cursor items with sounding lengths).
function selectionJson(score, range, mode, E) {
    var chords = readStaff(score, range.staff, range.from, range.to, E);
    if (!chords.length)
        throw new Error("the selection holds no notes or rests in voice 1");
    // the selection ends where its last chord ends
    range.to = chords[chords.length - 1].tick + chords[chords.length - 1].ticks;
    var first = chords[0];
    var sel = {key: {fifths: first.keysig, mode: mode}, time: {numerator: first.time[0], denominator: first.time[1]},
               offset: reduce(first.tick - first.measure, TICKS), notes: []};
    for (var i = 0; i < chords.length; i++) {
        var ch = chords[i];
        if (i > 0 && ch.measure !== chords[i - 1].measure)
            sel.notes.push({type: "bar", kind: chords[i - 1].barline});
        var item = {type: ch.pitches ? "note" : "rest", duration: ch.duration, actual: reduce(ch.ticks, TICKS)};
        if (ch.pitches)
            item.pitches = ch.pitches;
        sel.notes.push(item);
    }
    var last = chords[chords.length - 1];
    if (range.to === last.measureEnd)
        sel.notes.push({type: "bar", kind: last.barline});
    return sel;
}

// ------------------------------------------------------------------ writing notes

function flatNotes(items) {
    var out = [];
    for (var i = 0; i < items.length; i++) {
        var it = items[i];
        if (it.type === "tuplet")
            out = out.concat(flatNotes(it.items));
        else if (it.type === "note" || it.type === "rest")
            out.push(it);
    }
    return out;
}

function itemTicks(items) {
    var t = 0;
    for (var i = 0; i < items.length; i++) {
        var it = items[i];
        if (it.type === "tuplet")
            t += it.total[0] * TICKS / it.total[1];
        else if (it.type === "note" || it.type === "rest")
            t += it.duration[0] * TICKS / it.duration[1];
    }
    return Math.round(t);
}

// What this MuseScore's cursor cannot write of `items` ([] when it can write all).
function missingFeatures(score, items, version) {
    var c = score.newCursor();
    var need = {}, missing = [];
    (function scan(list) {
        for (var i = 0; i < list.length; i++) {
            var it = list[i];
            if (it.type === "tuplet") { need.tuplets = true; scan(it.items); }
            else if (it.type === "rest") need.rests = true;
            else if (it.type === "note") {
                if (it.pitches.length > 1) need.chords = true;
                for (var j = 0; j < it.pitches.length; j++)
                    if (it.pitches[j].tie) need.ties = true;
            }
        }
    })(items);
    if (need.tuplets && typeof c.addTuplet !== "function") missing.push("tuplets");
    if (need.rests && typeof c.addRest !== "function") missing.push("rests");
    if (need.chords && version < 30304) missing.push("chords");
    if (need.ties && (!score.selection || typeof score.selection.select !== "function"))
        missing.push("ties");
    return missing;
}

// Writes `items` into staff `staff` from tick `at` on, appending measures as needed.
function writeItems(api, score, staff, at, items, E) {
    var needed = at + itemTicks(items) - score.lastSegment.tick;
    if (needed > 0) {
        var c0 = score.newCursor();
        c0.rewind(0);
        var ts = c0.measure.timesigNominal;
        score.appendMeasures(Math.ceil(needed / (ts.numerator * TICKS / ts.denominator)));
    }
    var c = cursorAt(score, staff, at);
    if (!c.segment || c.tick !== at)
        throw new Error("cannot place the cursor at tick " + at);
    writeList(api, c, items);
    fixSpellingAndTies(api, score, staff, at, flatNotes(items), E);
}

// A cursor on voice 1 of `staff` at the first segment at or after tick `at`.
function cursorAt(score, staff, at) {
    var c = score.newCursor();
    c.staffIdx = staff;
    c.voice = 0;
    c.rewind(0);
    while (c.segment && c.tick < at)
        c.next();
    return c;
}

function writeList(api, c, items) {
    for (var i = 0; i < items.length; i++) {
        var it = items[i];
        if (it.type === "tuplet") {
            c.addTuplet(api.fraction(it.ratio[0], it.ratio[1]), api.fraction(it.total[0], it.total[1]));
            writeList(api, c, it.items);
        } else if (it.type === "rest") {
            c.setDuration(it.duration[0], it.duration[1]);
            c.addRest();
        } else if (it.type === "note") {
            c.setDuration(it.duration[0], it.duration[1]);
            c.addNote(it.pitches[0].pitch);
            for (var j = 1; j < it.pitches.length; j++)
                c.addNote(it.pitches[j].pitch, true);
        }
    }
}

// The cursor spells by key and cannot tie: walk what was written and set both.
function fixSpellingAndTies(api, score, staff, at, notes, E) {
    var c = cursorAt(score, staff, at);
    var tied = [];
    for (var i = 0; i < notes.length && c.segment; i++, c.next()) {
        var e = c.element;
        if (notes[i].type !== "note" || e.type !== E.CHORD)
            continue;
        for (var k = 0; k < e.notes.length; k++) {
            var n = e.notes[k];
            for (var j = 0; j < notes[i].pitches.length; j++) {
                var p = notes[i].pitches[j];
                if (p.pitch === n.pitch) {
                    n.tpc1 = p.tpc;
                    n.tpc2 = p.tpc;
                    if (p.tie) tied.push(n);
                }
            }
        }
    }
    for (var t = 0; t < tied.length; t++) {
        score.selection.select(tied[t], false);
        api.cmd("tie");
    }
    if (tied.length)
        score.selection.clear();
}
