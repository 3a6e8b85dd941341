//! `cyplam data import-convlmd` and `cyplam data show` on files of the ConvLMD layout written by
//! PyTables itself (`convlmd_fixture.py`; scripts/test installs `tables` into
//! ~/.cache/cyplam/python), then a grid on the imported set trained locally and through Slurm.

use super::*;
use serde_json::json;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/convlmd_fixture.py");

/// PYTHONPATH with the packages scripts/test installs (as the tensorboard reader finds them).
fn python_path() -> std::ffi::OsString {
    let cache = std::env::var_os("CYPLAM_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cyplam")))
        .unwrap_or_else(|| PathBuf::from(".cache/cyplam"));
    let mut path = cache.join("python").into_os_string();
    if let Some(old) = std::env::var_os("PYTHONPATH") {
        path.push(":");
        path.push(old);
    }
    path
}

/// Writes HDF5 files with PyTables, one per spec (see convlmd_fixture.py for the keys).
fn pytables(specs: &[Value]) {
    let o = Command::new("python3").arg(FIXTURE).arg(Value::Array(specs.to_vec()).to_string()).env("PYTHONPATH", python_path()).output().expect("python3");
    assert!(o.status.success(), "writing ConvLMD files with PyTables failed (scripts/test installs `tables` into ~/.cache/cyplam/python):\n{}", stderr(&o));
}

/// The data bytes of a .npy file (after its header) and its dtype.
fn npy_data(p: &Path) -> (String, Vec<usize>, Vec<u8>) {
    let h = cyplam_core::data::read_npy_header(p).unwrap();
    let bytes = std::fs::read(p).unwrap();
    (h.descr, h.shape, bytes[h.data_offset..].to_vec())
}

/// Every value of the imported set equals what PyTables wrote, cropped by numpy as the lab crops.
fn assert_same_set(got: &Path, want: &Path) {
    for f in ["frames.npy", "labels.npy", "tracks.npy"] {
        let (gd, gs, gb) = npy_data(&got.join(f));
        let (wd, ws, wb) = npy_data(&want.join(f));
        assert_eq!((&gd, &gs), (&wd, &ws), "{}: dtype and shape", got.join(f).display());
        assert!(
            gb == wb,
            "{}: the values differ from what was written (first difference at byte {:?})",
            got.join(f).display(),
            gb.iter().zip(&wb).position(|(a, b)| a != b)
        );
    }
    // And the set loads, every value checked, with the lab's input scale recorded.
    let d = cyplam_core::data::load_dataset(got).unwrap();
    assert!(d.info.has_tracks);
    let meta = cyplam_core::data::read_meta(got).unwrap().unwrap();
    assert_eq!(meta.input_scale, Some(1.0 / 255.0));
}

fn spec(path: &Path, rows: usize, extra: Value) -> Value {
    let mut v = json!({"path": path, "rows": rows});
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

#[test]
fn convlmd_files_import_with_every_frame_label_and_track_kept() {
    let env = Env::new();
    let d = env.dir.path();
    // The layouts PyTables may hold: uint8 frames with float64 labels (as published), uint16 and
    // float frames, integer and narrow float labels (float16 too), unsigned and float ids, compressed tables,
    // frames already cropped to 28 x 28. Sizes not a multiple of the importer's chunk.
    let cases = [
        ("u8", json!({"image_dtype": "uint8"}), json!({"image_dtype": "uint8", "seed": 2, "first_id": 100})),
        (
            "u16",
            json!({"image_dtype": "uint16", "power_dtype": "int32", "velocity_dtype": "float32", "id_dtype": "uint16"}),
            json!({"image_dtype": "uint16", "power_dtype": "int16", "velocity_dtype": "int8", "id_dtype": "uint32", "seed": 3, "first_id": 50}),
        ),
        (
            "f32",
            json!({"image_dtype": "float32", "complib": "zlib", "id_dtype": "int32", "velocity_dtype": "float16"}),
            json!({"image_dtype": "float32", "complib": "zlib", "id_dtype": "float64", "seed": 4, "first_id": 9}),
        ),
        (
            "f64-28",
            json!({"image_dtype": "float64", "side": 28, "power_dtype": "float32"}),
            json!({"image_dtype": "float64", "side": 28, "id_dtype": "int8", "seed": 5, "first_id": 20}),
        ),
    ];
    let mut specs = Vec::new();
    for (name, train, val) in &cases {
        let src = d.join(name);
        std::fs::create_dir_all(&src).unwrap();
        let mut t = train.clone();
        t["expected"] = json!(d.join(format!("{name}-want/train")));
        t["frames_per_track"] = json!(700);
        let mut v = val.clone();
        v["expected"] = json!(d.join(format!("{name}-want/validation")));
        specs.push(spec(&src.join("train_pow_speed.hdf5"), 2500, t));
        specs.push(spec(&src.join("test_pow_speed.hdf5"), 1100, v));
    }
    pytables(&specs);
    for (name, _, _) in &cases {
        let out = d.join(format!("{name}-out"));
        let o = env.run(&["data", "import-convlmd", d.join(name).to_str().unwrap(), "--out", out.to_str().unwrap()]);
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{name}: {said}\n{}", stderr(&o));
        assert!(said.contains("training: 2500 frames (") && said.contains("from 4 recordings of"), "{name}: {said}");
        assert!(said.contains("validation: 1100 frames ("), "{name}: {said}");
        assert!(!stderr(&o).contains("warning"), "{name}: no set shares a recording: {}", stderr(&o));
        for s in ["train", "validation"] {
            assert_same_set(&out.join(s), &d.join(format!("{name}-want/{s}")));
        }
    }
    // The two-file form gives the same set.
    let out = d.join("two-files");
    env.ok(&[
        "data",
        "import-convlmd",
        "--train",
        d.join("u8/train_pow_speed.hdf5").to_str().unwrap(),
        "--validation",
        d.join("u8/test_pow_speed.hdf5").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_same_set(&out.join("validation"), &d.join("u8-want/validation"));
}

#[test]
fn each_bad_convlmd_input_is_named() {
    let env = Env::new();
    let d = env.dir.path();
    let f = |n: &str| d.join(format!("{n}.hdf5"));
    let bad = |field: &str, row: usize, value: Value| json!({"bad": {"field": field, "row": row, "value": value}});
    let cases: Vec<(&str, Value, String)> = vec![
        ("no-df", json!({"node": "frames"}), "no node `df`; the root holds: `frames`".into()),
        ("group", json!({"node_kind": "group"}), "`df` is a group holding nothing (pandas `to_hdf` writes such a group".into()),
        ("array", json!({"node_kind": "array"}), "`df` is a dataset of shape [3, 3], not a table".into()),
        ("no-velocity", json!({"drop": "velocity"}), "the table `/df` has no field `velocity`; its fields: image (uint8 of 32 x 32), power (float64), id_recording (int64)".into()),
        ("no-image", json!({"drop": "image"}), "has no field `image`; its fields: power (float64), velocity (float64), id_recording (int64)".into()),
        ("side-30", json!({"side": 30}), "field `image` holds uint8 of 30 x 30; a frame is 32 x 32 (cropped to its central 28 x 28) or 28 x 28".into()),
        ("int-frames", json!({"image_dtype": "int32"}), "field `image` holds int32 of 32 x 32; valid: frames of uint8, uint16, float32 or float64".into()),
        ("nan-power", bad("power", 1234, json!("nan")), "row 1234: power is NaN; labels must be finite and > 0 (Accuracy20% divides by them)".into()),
        ("inf-power", bad("power", 7, json!("inf")), "row 7: power is inf; labels must be finite and > 0".into()),
        ("zero-velocity", bad("velocity", 3, json!(0)), "row 3: velocity is 0; labels must be finite and > 0".into()),
        ("negative-power", bad("power", 2999, json!(-600)), "row 2999: power is -600; labels must be finite and > 0".into()),
        ("nan-frame", json!({"image_dtype": "float32", "bad": {"field": "image", "row": 9, "value": "nan"}}), "row 9: image holds a non-finite value (NaN) at pixel (3, 5) of the cropped frame".into()),
        ("half-id", json!({"id_dtype": "float64", "bad": {"field": "id_recording", "row": 11, "value": 2.5}}), "row 11: id_recording 2.5 is not an integer recording id".into()),
        ("empty", json!({}), "the table `/df` holds no rows".into()),
        ("blosc", json!({"complib": "blosc"}), "`df` is compressed with blosc (a compressor PyTables registers itself), which this HDF5 library cannot decode; re-save it with zlib (PyTables: `ptrepack --complib=zlib".into()),
        ("dangling", json!({"node_kind": "soft-dangling"}), "`df` is a soft link to `/missing`, which leads nowhere (a dangling link); give the file that holds the table, or link `/df` to the table".into()),
        ("dangling-external", json!({"node_kind": "external-dangling"}), "`df` is an external link to `/df` in gone.h5, which leads nowhere (a dangling link)".into()),
        ("f16-frames", json!({"image_dtype": "float16"}), "field `image` holds float16 of 32 x 32; valid: frames of uint8, uint16, float32 or float64; convert the column (numpy: `image.astype('float32')`) and write the table again".into()),
        ("bool-frames", json!({"image_dtype": "bool"}), "field `image` holds bool of 32 x 32; valid: frames of uint8, uint16, float32 or float64".into()),
        ("huge-id", json!({"id_dtype": "uint64", "bad": {"field": "id_recording", "row": 5, "value": u64::MAX}}), "row 5: id_recording 18446744073709551615 is beyond int64, the type recording ids are kept in (largest 9223372036854775807); number the recordings within int64".into()),
        ("float-id-2^53", json!({"id_dtype": "float64", "bad": {"field": "id_recording", "row": 6, "value": 1e16}}), "row 6: id_recording 1e16 is beyond 2^53 (9007199254740992)".into()),
        ("huge-power", bad("power", 8, json!(1e300)), "row 8: power is 1e300, beyond float32, the type labels are stored in (largest 3.4028235e38); correct row 8 of the file".into()),
        ("tiny-velocity", bad("velocity", 9, json!(1e-50)), "row 9: velocity is 1e-50, nearer 0 than float32, the type labels are stored in, holds (smallest 1e-45): it would be stored as 0".into()),
    ];
    let mut specs: Vec<Value> = cases.iter().map(|(n, extra, _)| spec(&f(n), if *n == "empty" { 0 } else { 3000 }, extra.clone())).collect();
    specs.push(spec(&f("good"), 1000, json!({})));
    specs.push(spec(&f("good-too"), 600, json!({"first_id": 1, "seed": 9})));
    specs.push(spec(&f("blank"), 300, json!({"first_id": 50, "image_fill": 0})));
    pytables(&specs);
    let out = d.join("out");
    let import_to = |train: &Path, val: &Path, out: &Path| {
        env.run(&["data", "import-convlmd", "--train", train.to_str().unwrap(), "--validation", val.to_str().unwrap(), "--out", out.to_str().unwrap()])
    };
    let import = |train: &Path, val: &Path| import_to(train, val, &out);
    for (name, _, want) in &cases {
        // A bad training file and a bad validation file are both caught.
        for (k, (train, val)) in [(f(name), f("good")), (f("good"), f(name))].into_iter().enumerate() {
            let o_dir = d.join(format!("out-{name}-{k}"));
            let o = import_to(&train, &val, &o_dir);
            let e = stderr(&o);
            assert!(!o.status.success(), "{name}: imported");
            assert!(e.contains(&format!("{}: ", f(name).display())) && e.contains(want.as_str()), "{name}: expected {want:?} in:\n{e}");
            // Layouts are checked before anything is written; a bad row leaves nothing either.
            assert!(!o_dir.exists(), "{name}: a failed import leaves nothing");
        }
    }
    // Files that are not there, or not HDF5.
    std::fs::create_dir_all(d.join("half")).unwrap();
    std::fs::copy(f("good"), d.join("half/train_pow_speed.hdf5")).unwrap();
    let o = env.run(&["data", "import-convlmd", d.join("half").to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(stderr(&o).contains("half: holds no test_pow_speed.hdf5 (the ConvLMD validation file); found: train_pow_speed.hdf5"), "{}", stderr(&o));
    std::fs::write(d.join("text.hdf5"), "not hdf5").unwrap();
    let o = import(&d.join("text.hdf5"), &f("good"));
    assert!(stderr(&o).contains("text.hdf5: cannot open as HDF5"), "{}", stderr(&o));
    let o = import(&d.join("gone.hdf5"), &f("good"));
    assert!(stderr(&o).contains("gone.hdf5: missing file"), "{}", stderr(&o));
    let o = import(&f("good"), &f("good"));
    assert!(stderr(&o).contains("the training and the validation file are the same file"), "{}", stderr(&o));
    // A file given as the directory; a directory given as the training file, or standing where
    // the directory form expects one; a file given as --out.
    let o = env.run(&["data", "import-convlmd", f("good").to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(stderr(&o).contains(&format!("{}: is a file, not a directory; give the folder holding train_pow_speed.hdf5 and test_pow_speed.hdf5, or the two files as --train FILE --validation FILE", f("good").display())), "{}", stderr(&o));
    let o = import(&d.join("half"), &f("good"));
    assert!(
        stderr(&o).contains(&format!(
            "{}: is a directory, not the ConvLMD training file; give the file in it: --train {} (with --validation FILE)",
            d.join("half").display(),
            d.join("half/train_pow_speed.hdf5").display()
        )),
        "{}",
        stderr(&o)
    );
    std::fs::create_dir_all(d.join("half/test_pow_speed.hdf5")).unwrap();
    let o = env.run(&["data", "import-convlmd", d.join("half").to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(
        stderr(&o).contains(
            "half/test_pow_speed.hdf5: is a directory, not the ConvLMD validation file; give the HDF5 file itself: --validation FILE (with --train FILE)"
        ),
        "{}",
        stderr(&o)
    );
    let o = import_to(&f("good"), &f("good-too"), &d.join("text.hdf5"));
    let e = stderr(&o);
    assert!(e.contains(&format!("{}: is a file, not a directory; give --out a directory", d.join("text.hdf5").display())) && !e.contains("os error"), "{e}");
    assert_eq!(std::fs::read_to_string(d.join("text.hdf5")).unwrap(), "not hdf5", "the file given as --out is left alone");

    // Blank frames are said to be blank, not "already scaled".
    let o = import_to(&f("good"), &f("blank"), &d.join("blank-out"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("warning: {}: every pixel of every frame is 0: the frames hold no image", f("blank").display())), "{}", stderr(&o));
    assert!(!stderr(&o).contains("already scaled"), "{}", stderr(&o));

    // A recording in both sets is a warning, not an error.
    let o = import(&f("good"), &f("good-too"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: 1 recording(s) are in both the training and the validation set (id_recording 1); the study's sets share no experiment"),
        "{}",
        stderr(&o)
    );
}

/// The SHA-256 of every file under `dir` (hidden ones too), by its path inside `dir`.
fn checksums(dir: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    use sha2::{Digest, Sha256};
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let sum = Sha256::digest(std::fs::read(&p).unwrap());
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), sum.iter().map(|b| format!("{b:02x}")).collect());
            }
        }
    }
    out
}

#[test]
fn a_failed_import_over_a_set_leaves_it_byte_identical_and_replacing_needs_saying_so() {
    let env = Env::new();
    let d = env.dir.path();
    std::fs::create_dir_all(d.join("lab")).unwrap();
    std::fs::create_dir_all(d.join("lab2")).unwrap();
    std::fs::create_dir_all(d.join("lab3")).unwrap();
    // A first export; a second whose training file is sound and whose validation file has a bad
    // label far down (the training set is written in full before it is met).
    pytables(&[
        spec(&d.join("lab/train_pow_speed.hdf5"), 1500, json!({})),
        spec(&d.join("lab/test_pow_speed.hdf5"), 600, json!({"first_id": 10, "seed": 2})),
        spec(&d.join("lab2/train_pow_speed.hdf5"), 2000, json!({"seed": 5, "expected": d.join("want2/train")})),
        spec(&d.join("lab2/test_pow_speed.hdf5"), 900, json!({"first_id": 20, "seed": 6, "bad": {"field": "power", "row": 850, "value": -1}})),
        spec(&d.join("lab3/test_pow_speed.hdf5"), 900, json!({"first_id": 20, "seed": 6, "expected": d.join("want2/validation")})),
    ]);
    let out = d.join("convlmd");
    let s = |dir: &str| d.join(dir).to_str().unwrap().to_string();
    env.ok(&["data", "import-convlmd", &s("lab"), "--out", out.to_str().unwrap()]);
    let before = checksums(&out);
    assert_eq!(before.len(), 8, "two sets of frames, labels, tracks and dataset.json: {before:?}");

    // Again, without the flag: refused, naming it and what is there.
    let o = env.run(&["data", "import-convlmd", &s("lab2"), "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "{}: already holds a data set (train (1500 frames, from ConvLMD {}), validation (600 frames, from ConvLMD {})); give --replace to replace it",
            out.display(),
            d.join("lab/train_pow_speed.hdf5").display(),
            d.join("lab/test_pow_speed.hdf5").display()
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(checksums(&out), before);

    // With the flag, from the export with a bad label: the error, and the previous set as it was.
    let o = env.run(&["data", "import-convlmd", &s("lab2"), "--out", out.to_str().unwrap(), "--replace"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("test_pow_speed.hdf5: row 850: power is -1; labels must be finite and > 0"), "{}", stderr(&o));
    assert_eq!(checksums(&out), before, "a failed import changed the previous set");

    // Fixed, it replaces the set whole and says what it replaced.
    std::fs::copy(d.join("lab3/test_pow_speed.hdf5"), d.join("lab2/test_pow_speed.hdf5")).unwrap();
    let said = env.ok(&["data", "import-convlmd", &s("lab2"), "--out", out.to_str().unwrap(), "--replace"]);
    assert!(
        said.contains(&format!(
            "replaced the previous set in {}: train (1500 frames, from ConvLMD {}), validation (600 frames",
            out.display(),
            d.join("lab/train_pow_speed.hdf5").display()
        )),
        "{said}"
    );
    for set in ["train", "validation"] {
        assert_same_set(&out.join(set), &d.join("want2").join(set));
    }
    assert_eq!(checksums(&out).len(), 8, "nothing left aside");
}

/// Debian's Chromium, or CYPLAM_CHROMIUM (as the report's test finds it).
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CYPLAM_CHROMIUM") {
        return PathBuf::from(p);
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("this test renders the page in headless Chromium: install it with `apt-get install chromium` (or set CYPLAM_CHROMIUM)")
}

/// Counts, in the laid-out page, every track row's sample images and how many decoded to 28 x 28.
const MEASURE: &str = r#"<script>
(() => {
  const tracks = [...document.querySelectorAll('table.tracks tbody tr')].map(tr => {
    const imgs = [...tr.querySelectorAll('img')];
    return { set: tr.closest('table').dataset.set, track: tr.dataset.track, images: imgs.length,
             decoded: imgs.filter(i => i.complete && i.naturalWidth === 28 && i.naturalHeight === 28 && i.getBoundingClientRect().width > 0).length };
  });
  const bars = [...document.querySelectorAll('svg[data-figure] rect')].filter(r => r.getBBox().height > 0 && r.querySelector('title')).length;
  const pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify({ title: document.title, tracks, bars, overlap: document.getElementById('overlap').textContent });
  document.body.appendChild(pre);
})();
</script>
"#;

fn measure_in_chromium(env: &Env, page: &Path) -> Value {
    let probe = page.with_file_name("probe.html");
    std::fs::write(&probe, std::fs::read_to_string(page).unwrap().replace("</body>", &format!("{MEASURE}</body>"))).unwrap();
    let mut url = String::from("file://");
    for b in probe.to_str().unwrap().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            url.push(b as char)
        } else {
            url.push_str(&format!("%{b:02X}"))
        }
    }
    let o = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--window-size=1400,3000",
        ])
        .arg(format!("--user-data-dir={}", env.dir.path().join("chromium-profile").display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout);
    let json = dom
        .split_once("<pre id=\"measured\">")
        .and_then(|(_, r)| r.split_once("</pre>"))
        .map(|(j, _)| j.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("Chromium did not run the page (status {}):\n{}", o.status, stderr(&o)));
    serde_json::from_str(&json).unwrap()
}

#[test]
fn data_show_summarizes_convlmd_synthetic_and_imported_track_sets() {
    let env = Env::new();
    let d = env.dir.path();
    std::fs::create_dir_all(d.join("lab")).unwrap();
    pytables(&[
        spec(&d.join("lab/train_pow_speed.hdf5"), 1500, json!({"frames_per_track": 500})),
        spec(&d.join("lab/test_pow_speed.hdf5"), 700, json!({"frames_per_track": 300, "first_id": 2, "seed": 7})),
    ]);
    let out = d.join("convlmd");
    env.ok(&["data", "import-convlmd", d.join("lab").to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let v = env.json(&["data", "show", out.to_str().unwrap(), "--format", "json"]);
    let sets = v["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    assert_eq!((sets[0]["name"].as_str(), sets[0]["frames"].as_u64(), sets[0]["frames_dtype"].as_str()), (Some("train"), Some(1500), Some("uint8")));
    assert_eq!(sets[0]["input_scale"].as_f64(), Some(1.0 / 255.0));
    let tracks = |s: &Value| s["tracks"].as_array().unwrap().iter().map(|t| (t["id"].as_i64().unwrap(), t["frames"].as_u64().unwrap())).collect::<Vec<_>>();
    assert_eq!(tracks(&sets[0]), vec![(0, 500), (1, 500), (2, 500)]);
    assert_eq!(tracks(&sets[1]), vec![(2, 300), (3, 300), (4, 100)]);
    assert_eq!(v["shared_tracks"], json!([2]));
    let frames = |h: &Value| h["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum::<u64>();
    assert_eq!((frames(&sets[0]["lp_histogram"]), frames(&sets[1]["ps_histogram"])), (1500, 700));
    let pairs: u64 = sets[1]["label_counts"].as_array().unwrap().iter().map(|c| c["frames"].as_u64().unwrap()).sum();
    assert_eq!(pairs, 700);
    let text = env.ok(&["data", "show", out.to_str().unwrap()]);
    assert!(text.contains("train (") && text.contains("1500 frames, uint8, values 0..255"), "{text}");
    assert!(text.contains("overlap: 1 recording(s) in both sets (2)"), "{text}");

    // The page: every track's samples decode as 28 x 28 images; nothing is fetched.
    let html = d.join("page");
    env.ok(&["data", "show", out.to_str().unwrap(), "--html", html.to_str().unwrap(), "--samples", "6"]);
    let page = std::fs::read_to_string(html.join("index.html")).unwrap();
    for bad in ["<script", "<link", "<iframe", "url(", "@import", "http://", "https://"] {
        assert!(!page.replace("http://www.w3.org/2000/svg", "").contains(bad), "the page has {bad:?}");
    }
    let m = measure_in_chromium(&env, &html.join("index.html"));
    assert_eq!(m["title"].as_str().map(|t| t.starts_with("cyplam data: ")), Some(true));
    let rows = m["tracks"].as_array().unwrap();
    let got: Vec<(String, String, u64, u64)> = rows
        .iter()
        .map(|r| (r["set"].as_str().unwrap().into(), r["track"].as_str().unwrap().into(), r["images"].as_u64().unwrap(), r["decoded"].as_u64().unwrap()))
        .collect();
    let want: Vec<(String, String, u64, u64)> = [("train", "0"), ("train", "1"), ("train", "2"), ("validation", "2"), ("validation", "3"), ("validation", "4")]
        .iter()
        .map(|(s, t)| (s.to_string(), t.to_string(), 6, 6))
        .collect();
    assert_eq!(got, want, "six sample frames per track, all decoded");
    assert!(m["bars"].as_u64().unwrap() >= 4, "histogram bars drawn: {m}");
    assert!(m["overlap"].as_str().unwrap().contains("1 recording(s) in both sets: 2."), "{m}");

    // A synthetic set.
    let syn = env.json(&["data", "show", data_dir().to_str().unwrap(), "--format", "json"]);
    assert_eq!(syn["sets"][0]["frames"], 8000);
    assert_eq!(syn["sets"][0]["input_scale"], Value::Null);
    assert_eq!(syn["shared_tracks"], json!([]));
    let n: u64 = syn["sets"][1]["tracks"].as_array().unwrap().iter().map(|t| t["frames"].as_u64().unwrap()).sum();
    assert_eq!(n, 3000);

    // Imported tracks (one .npy per track and cords.csv), written with numpy.
    let lab = d.join("tracks");
    let py = format!(
        "import numpy as np\nfor k in range(4): np.save({:?} + f'/t{{k}}.npy', np.full((30, 32, 32), 100 * k, np.uint16))\nopen({:?} + '/cords.csv', 'w').write('t0 600 4\\nt1 700 5\\nt2 800 6\\nt3 900 7\\n')",
        lab.display().to_string(), lab.display().to_string());
    std::fs::create_dir_all(&lab).unwrap();
    let o = Command::new("python3").args(["-c", &py]).env("PYTHONPATH", python_path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    env.ok(&["data", "import-tracks", lab.to_str().unwrap(), "--out", d.join("imported").to_str().unwrap(), "--trim", "5"]);
    let imp = env.json(&["data", "show", d.join("imported").to_str().unwrap(), "--format", "json"]);
    let all: u64 = imp["sets"].as_array().unwrap().iter().flat_map(|s| s["tracks"].as_array().unwrap().iter().map(|t| t["frames"].as_u64().unwrap())).sum();
    assert_eq!(all, 4 * 20);
    assert_eq!(imp["sets"][0]["tracks"].as_array().unwrap().len() + imp["sets"][1]["tracks"].as_array().unwrap().len(), 4);
}

/// A ConvLMD set imported into the test's directory; the grid pointing at it.
fn imported_grid(env: &Env, name: &str, body: &str) -> PathBuf {
    let d = env.dir.path();
    std::fs::create_dir_all(d.join("lab")).unwrap();
    pytables(&[
        spec(&d.join("lab/train_pow_speed.hdf5"), 3000, json!({"frames_per_track": 300})),
        spec(&d.join("lab/test_pow_speed.hdf5"), 1000, json!({"frames_per_track": 250, "first_id": 100, "seed": 3})),
    ]);
    let out = d.join("convlmd");
    env.ok(&["data", "import-convlmd", d.join("lab").to_str().unwrap(), "--out", out.to_str().unwrap()]);
    // Relative paths: resolved against the grid file, as a user writes them.
    let p = d.join(format!("{name}.toml"));
    std::fs::write(&p, format!("name = \"{name}\"\n[data]\ntrain = \"convlmd/train\"\nvalidation = \"convlmd/validation\"\n{body}")).unwrap();
    p
}

/// Two tiny models, 200 iterations.
fn two() -> String {
    FIVE.replace("iterations = 300", "iterations = 200").replace("nfc1 = [8, 16, 24, 32, 48]", "nfc1 = [8, 16]")
}

fn assert_trained_with_the_labs_scale(env: &Env, sweep: &str) {
    let sweep_file: Value = serde_json::from_str(&std::fs::read_to_string(env.runs().join(sweep).join("sweep.json")).unwrap()).unwrap();
    assert_eq!(sweep_file["grid"]["data"]["input_scale"], json!({"factor": 1.0 / 255.0}), "the frozen sweep divides by 255");
    let res = results(&env.runs(), sweep);
    assert_eq!(res.len(), 2);
    assert!(res.iter().all(|r| r.status == cyplam_core::files::ResultStatus::Completed), "{res:?}");
}

#[test]
fn a_grid_on_an_imported_convlmd_set_runs_locally() {
    let env = Env::new();
    let grid = imported_grid(&env, "convlmd-local", &two());
    let o = env.run(&["run", grid.to_str().unwrap(), "--jobs", "2"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("top 2 of 2 models (2 completed)"), "{out}");
    assert_trained_with_the_labs_scale(&env, "convlmd-local");
}

#[test]
fn a_grid_on_an_imported_convlmd_set_runs_through_slurm() {
    let _c = super::slurm::cluster();
    let env = Env::new();
    let grid = imported_grid(&env, "convlmd-slurm", &two());
    let out = env.ok(&["submit", grid.to_str().unwrap()]);
    assert!(out.contains("submitted job"), "{out}");
    let states = super::slurm::wait_idle(&env, "convlmd-slurm", std::time::Duration::from_secs(600));
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    assert_trained_with_the_labs_scale(&env, "convlmd-slurm");
}
