use super::*;
use ndarray::{Array1, Array2, Array3};
use ndarray_npy::WriteNpyExt;
use std::path::Path;

fn write<A: WriteNpyExt>(path: &Path, a: &A) {
    let f = std::fs::File::create(path).unwrap();
    a.write_npy(std::io::BufWriter::new(f)).unwrap();
}

fn good(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    write(&dir.join("frames.npy"), &Array3::<u16>::from_elem((n, 28, 28), 7));
    write(&dir.join("labels.npy"), &Array2::<f32>::from_shape_fn((n, 2), |(i, j)| if j == 0 { 600.0 + i as f32 } else { 4.0 }));
}

fn msg(dir: &Path) -> String {
    load_dataset(dir).unwrap_err().to_string()
}

#[test]
fn a_good_set_loads_in_every_frame_dtype() {
    let t = tempfile::tempdir().unwrap();
    good(t.path(), 3);
    let d = load_dataset(t.path()).unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(d.frames.len(), 3 * 784);
    assert_eq!(d.labels, vec![600.0, 4.0, 601.0, 4.0, 602.0, 4.0]);
    write(&t.path().join("frames.npy"), &Array2::<f64>::from_elem((3, 784), 0.5));
    assert_eq!(load_dataset(t.path()).unwrap().frames[0], 0.5);
    write(&t.path().join("frames.npy"), &Array2::<u8>::from_elem((3, 784), 200));
    assert_eq!(load_dataset(t.path()).unwrap().max_value(), 200.0);
    write(&t.path().join("frames.npy"), &Array2::<f32>::from_elem((3, 784), 1.5));
    write(&t.path().join("labels.npy"), &Array2::<f64>::from_elem((3, 2), 5.0));
    write(&t.path().join("tracks.npy"), &Array1::<i32>::from_elem(3, 1));
    let d = load_dataset(t.path()).unwrap();
    assert!(d.info.has_tracks);
    assert_eq!(d.labels[0], 5.0);
}

#[test]
fn every_bad_case_names_the_file_and_problem() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let e = msg(&d.join("nope"));
    assert!(e.contains("nope: the data set directory does not exist"), "{e}");

    good(d, 3);
    std::fs::remove_file(d.join("labels.npy")).unwrap();
    let e = msg(d);
    assert!(e.ends_with("labels.npy: missing file"), "{e}");

    good(d, 3);
    write(&d.join("frames.npy"), &Array2::<f32>::zeros((3, 783)));
    let e = msg(d);
    assert!(e.contains("frames.npy: shape [3, 783] is not valid; expected (N, 784) or (N, 28, 28)"), "{e}");

    write(&d.join("frames.npy"), &Array2::<i64>::zeros((3, 784)));
    let e = msg(d);
    assert!(e.contains("frames.npy: dtype \"<i8\" is not supported; valid: float32, float64, uint8, uint16"), "{e}");

    good(d, 3);
    write(&d.join("labels.npy"), &Array2::<f32>::from_elem((4, 2), 1.0));
    let e = msg(d);
    assert!(e.contains("labels.npy: 4 labels for 3 frames"), "{e}");

    write(&d.join("labels.npy"), &Array2::<f32>::from_elem((3, 3), 1.0));
    assert!(msg(d).contains("labels.npy: shape [3, 3] is not valid; expected (N, 2)"));

    write(&d.join("labels.npy"), &Array2::<u16>::from_elem((3, 2), 1));
    assert!(msg(d).contains("labels.npy: dtype \"<u2\" is not supported; valid: float32, float64"));

    good(d, 3);
    let mut f = Array2::<f32>::zeros((3, 784));
    f[[1, 5]] = f32::NAN;
    write(&d.join("frames.npy"), &f);
    let e = msg(d);
    assert!(e.contains("frames.npy: frame 1 holds a non-finite value (NaN) at pixel 5"), "{e}");
    f[[1, 5]] = f32::INFINITY;
    write(&d.join("frames.npy"), &f);
    assert!(msg(d).contains("frame 1 holds a non-finite value (inf)"));

    good(d, 3);
    let mut l = Array2::<f64>::from_elem((3, 2), 10.0);
    l[[2, 1]] = 0.0;
    write(&d.join("labels.npy"), &l);
    let e = msg(d);
    assert!(e.contains("labels.npy: row 2 holds a process speed of 0; labels must be > 0 (Accuracy20% divides by them)"), "{e}");
    l[[2, 1]] = -3.0;
    l[[0, 0]] = f64::NAN;
    write(&d.join("labels.npy"), &l);
    assert!(msg(d).contains("row 0 holds a non-finite laser power (NaN)"));

    good(d, 3);
    let bytes = std::fs::read(d.join("frames.npy")).unwrap();
    std::fs::write(d.join("frames.npy"), &bytes[..bytes.len() - 100]).unwrap();
    let e = msg(d);
    assert!(e.contains("frames.npy: truncated: the header announces shape [3, 28, 28] of uint16"), "{e}");
    std::fs::write(d.join("frames.npy"), &bytes[..30]).unwrap();
    assert!(msg(d).contains("frames.npy: truncated .npy header"));
    std::fs::write(d.join("frames.npy"), b"hello").unwrap();
    assert!(msg(d).contains("frames.npy: not a .npy file"));
}

/// A `.npy` file as bytes: a version 1 header with `descr` and `shape`, then `data` bytes.
fn npy_bytes(descr: &str, shape: &str, data: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    b.extend_from_slice(dict.as_bytes());
    b.resize(b.len() + data, 0);
    b
}

#[test]
fn sizes_from_a_header_are_checked_never_wrapped() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("frames.npy");
    let e = |bytes: Vec<u8>| {
        std::fs::write(&p, bytes).unwrap();
        check_frames_header(&p).unwrap_err().to_string()
    };
    let name = p.display().to_string();
    // 2^62 rows: more values than a usize counts.
    assert_eq!(
        e(npy_bytes("<f4", "(4611686018427387904, 784)", 0)),
        format!("{name}: the header announces shape [4611686018427387904, 784]: more values than a file can hold")
    );
    // The values fit in a usize, their bytes do not fit in a u64.
    assert_eq!(
        e(npy_bytes("<f8", "(2305843009213693952,)", 0)),
        format!("{name}: the header announces shape [2305843009213693952] of float64: more bytes than a file can hold")
    );
    // Large but countable: the file is too short for it.
    let bytes = npy_bytes("<u2", "(1099511627776, 784)", 10);
    let (len, header) = (bytes.len(), bytes.len() - 10);
    assert_eq!(
        e(bytes),
        format!(
            "{name}: truncated: the header announces shape [1099511627776, 784] of uint16 ({} bytes in all), the file has {len} bytes",
            1_099_511_627_776u64 * 784 * 2 + header as u64
        )
    );
    // A dimension beyond 64 bits is not a number.
    assert!(e(npy_bytes("<f4", "(99999999999999999999, 784)", 0)).ends_with("bad dimension \"99999999999999999999\" in 'shape'"));
}

#[test]
fn the_header_check_refuses_what_the_reader_would() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    good(d, 3);
    let fpath = d.join("frames.npy");
    let name = fpath.display().to_string();
    let whole = std::fs::read(&fpath).unwrap();
    // Trailing bytes: both sizes named; submit's check (check_dataset) and the reader agree.
    let mut longer = whole.clone();
    longer.extend_from_slice(b"extra");
    std::fs::write(&fpath, &longer).unwrap();
    let want = whole.len();
    let said =
        format!("{name}: the header announces shape [3, 28, 28] of uint16 ({want} bytes in all), the file has {} bytes: 5 bytes after the data", want + 5);
    assert_eq!(check_dataset(d).unwrap_err().to_string(), said);
    assert_eq!(load_dataset(d).unwrap_err().to_string(), said);
    // Truncated: the same for both.
    std::fs::write(&fpath, &whole[..want - 1]).unwrap();
    let said = format!("{name}: truncated: the header announces shape [3, 28, 28] of uint16 ({want} bytes in all), the file has {} bytes", want - 1);
    assert_eq!(check_dataset(d).unwrap_err().to_string(), said);
    assert_eq!(load_dataset(d).unwrap_err().to_string(), said);

    // Big-endian data: said so, with the way to convert it.
    std::fs::write(&fpath, npy_bytes(">f4", "(3, 784)", 3 * 784 * 4)).unwrap();
    assert_eq!(
        check_dataset(d).unwrap_err().to_string(),
        format!("{name}: dtype \">f4\" is big-endian; cyplam reads little-endian data: save it little-endian (numpy: arr.astype('<f4'))")
    );
    good(d, 3);
    std::fs::write(d.join("labels.npy"), npy_bytes(">f8", "(3, 2)", 3 * 2 * 8)).unwrap();
    assert!(check_dataset(d)
        .unwrap_err()
        .to_string()
        .ends_with("labels.npy: dtype \">f8\" is big-endian; cyplam reads little-endian data: save it little-endian (numpy: arr.astype('<f8'))"));
    // One byte has no order: '>u1' reads as uint8.
    std::fs::write(&fpath, npy_bytes(">u1", "(3, 784)", 3 * 784)).unwrap();
    good(d, 3);
    std::fs::write(&fpath, npy_bytes(">u1", "(3, 784)", 3 * 784)).unwrap();
    assert_eq!(check_dataset(d).unwrap().frames_dtype, Dtype::U8);

    // A file where the directory should be, and a directory where a file should be.
    let e = check_dataset(&fpath).unwrap_err().to_string();
    assert_eq!(e, format!("{name}: is a file, not a data set directory (a directory holding frames.npy and labels.npy); name the directory that holds it"));
    std::fs::remove_file(&fpath).unwrap();
    std::fs::create_dir(&fpath).unwrap();
    assert_eq!(check_dataset(d).unwrap_err().to_string(), format!("{name}: is a directory, not a .npy file"));
}

#[test]
fn fortran_ordered_files_read_in_the_same_order() {
    use ndarray::ShapeBuilder;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    good(d, 3);
    let c = Array3::<f32>::from_shape_fn((3, 28, 28), |(i, a, b)| (i * 10_000 + a * 100 + b) as f32);
    let mut f = Array3::<f32>::zeros((3, 28, 28).f());
    f.assign(&c);
    write(&d.join("frames.npy"), &f);
    assert!(read_npy_header(&d.join("frames.npy")).unwrap().fortran_order, "the test writes a Fortran-ordered file");
    let loaded = load_dataset(d).unwrap();
    assert_eq!(loaded.frames, c.iter().copied().collect::<Vec<f32>>());
    let l = Array2::<f64>::from_shape_fn((3, 2).f(), |(i, j)| (1 + i * 2 + j) as f64);
    write(&d.join("labels.npy"), &l);
    assert_eq!(load_dataset(d).unwrap().labels, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn written_headers_parse_back_and_align_the_data() {
    for shape in [vec![3usize, 28, 28], vec![1_000_000], vec![7, 2]] {
        let h = npy_header("<f4", &shape);
        assert_eq!(h.len() % 64, 0);
        let back = parse_npy_header(&h).unwrap();
        assert_eq!((back.dtype(), back.shape, back.data_offset), (Some(Dtype::F32), shape, h.len()));
    }
}

#[test]
fn dataset_meta_is_optional_and_checked() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(read_meta(t.path()).unwrap(), None);
    std::fs::write(t.path().join(META_FILE), r#"{"source": "ConvLMD x.hdf5", "input_scale": 0.00392156862745098}"#).unwrap();
    assert_eq!(read_meta(t.path()).unwrap().unwrap().input_scale, Some(1.0 / 255.0));
    std::fs::write(t.path().join(META_FILE), r#"{"source": "x", "input_scale": -1}"#).unwrap();
    let e = read_meta(t.path()).unwrap_err().to_string();
    assert!(e.ends_with("dataset.json: input_scale -1 must be finite and > 0"), "{e}");
    std::fs::write(t.path().join(META_FILE), "{").unwrap();
    assert!(read_meta(t.path()).unwrap_err().to_string().contains("dataset.json: EOF while parsing"));
}

#[test]
fn headers_parse() {
    let h = parse_npy_header(b"\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, 'shape': (10, 28, 28), }          \n").unwrap();
    assert_eq!(h.shape, vec![10, 28, 28]);
    assert_eq!(h.dtype(), Some(Dtype::F32));
    assert!(!h.fortran_order);
    assert!(parse_npy_header(b"\x93NUMPY\x09\x00\x00\x00").is_err());
    // Fuzzer regression: a descr whose first character is not ASCII.
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let dict = "{'descr': '\u{28a}2', 'fortran_order': False, 'shape': (1, 784), }";
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    let h = parse_npy_header(&bytes).unwrap();
    assert_eq!(h.dtype(), None);
}

#[test]
fn header_errors_say_what_is_wrong() {
    let e = |b: &[u8]| parse_npy_header(b).unwrap_err().to_string();
    assert_eq!(e(b"hello world"), "not a .npy file (no \\x93NUMPY magic)");
    assert_eq!(e(b"\x93NUMPY\x09\x00\x00\x00"), ".npy format version 9 is not supported (1, 2 or 3)");
    assert_eq!(e(b"\x93NUMPY\x01\x00\x46\x00{'descr'"), "truncated .npy header: 70 bytes announced, 8 present");
    assert_eq!(e(b"\x93NUMPY\x01\x00\x0c\x00{'descr': 1}"), "'descr' is not a simple type string (structured arrays are not supported)");
    assert_eq!(e(b"\x93NUMPY\x01\x00\x08\x00{'x': 1}"), "the .npy header has no 'descr'");
    assert_eq!(e(b"\x93NUMPY\x01\x00\x39\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1, x)}"), "bad dimension \"x\" in 'shape'");
}

/// What `cyplam submit` checks (streamed) and what the worker checks (loaded) say the same.
fn both(dir: &Path) -> String {
    let streamed = check_values(dir).unwrap_err().to_string();
    assert_eq!(streamed, msg(dir), "the streamed check and the worker's disagree");
    streamed
}

#[test]
fn the_streamed_value_check_refuses_what_loading_would_with_the_file_row_and_value() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // 200 frames: more than one chunk of values, so a bad value in a later chunk is found too.
    good(d, 200);
    assert_eq!(check_values(d).unwrap(), Values { max_frame: 7.0 });
    let mut f = Array2::<f32>::from_elem((200, 784), 0.25);
    f[[150, 783]] = f32::NAN;
    f[[190, 3]] = f32::INFINITY;
    write(&d.join("frames.npy"), &f);
    assert!(both(d).ends_with("frames.npy: frame 150 holds a non-finite value (NaN) at pixel 783"));
    f[[150, 783]] = 0.5;
    write(&d.join("frames.npy"), &f);
    assert!(both(d).ends_with("frames.npy: frame 190 holds a non-finite value (inf) at pixel 3"));
    f[[190, 3]] = f32::NEG_INFINITY;
    write(&d.join("frames.npy"), &f.mapv(f64::from));
    assert!(both(d).ends_with("frames.npy: frame 190 holds a non-finite value (-inf) at pixel 3"));
    f[[190, 3]] = 9.0;
    write(&d.join("frames.npy"), &f);
    assert_eq!(check_values(d).unwrap().max_frame, 9.0);

    let labels = |edit: &dyn Fn(&mut Array2<f64>)| {
        let mut l = Array2::<f64>::from_shape_fn((200, 2), |(i, j)| if j == 0 { 600.0 + i as f64 } else { 4.0 });
        edit(&mut l);
        write(&d.join("labels.npy"), &l);
        both(d)
    };
    assert!(labels(&|l| l[[120, 0]] = 0.0).ends_with("labels.npy: row 120 holds a laser power of 0; labels must be > 0 (Accuracy20% divides by them)"));
    assert!(labels(&|l| l[[7, 1]] = -2.5).ends_with("labels.npy: row 7 holds a process speed of -2.5; labels must be > 0 (Accuracy20% divides by them)"));
    assert!(labels(&|l| l[[199, 1]] = f64::NAN).ends_with("labels.npy: row 199 holds a non-finite process speed (NaN)"));
    assert!(labels(&|l| l[[3, 0]] = f64::INFINITY).ends_with("labels.npy: row 3 holds a non-finite laser power (inf)"));
    // A value too large for float32 is infinite once read, as the worker reads it.
    assert!(labels(&|l| l[[5, 0]] = 1e300).ends_with("labels.npy: row 5 holds a non-finite laser power (inf)"));
    // The first bad value in row order is the one named, as loading names it.
    assert!(labels(&|l| {
        l[[9, 1]] = 0.0;
        l[[2, 0]] = -1.0
    })
    .ends_with("labels.npy: row 2 holds a laser power of -1; labels must be > 0 (Accuracy20% divides by them)"));
}

#[test]
fn the_streamed_check_of_a_fortran_ordered_file_names_the_first_bad_value_in_row_order() {
    use ndarray::ShapeBuilder;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    good(d, 100);
    // In a column-major file row 90's pixel 0 comes before row 10's pixel 5; the message names row 10.
    let mut f = Array2::<f32>::zeros((100, 784).f());
    f[[10, 5]] = f32::NAN;
    f[[90, 0]] = f32::INFINITY;
    write(&d.join("frames.npy"), &f);
    assert!(read_npy_header(&d.join("frames.npy")).unwrap().fortran_order, "the test writes a Fortran-ordered file");
    assert!(both(d).ends_with("frames.npy: frame 10 holds a non-finite value (NaN) at pixel 5"));
    let mut l = Array2::<f32>::from_elem((100, 2).f(), 3.0);
    l[[40, 1]] = 0.0;
    l[[60, 0]] = -1.0;
    write(&d.join("frames.npy"), &Array2::<f32>::zeros((100, 784).f()));
    write(&d.join("labels.npy"), &l);
    assert!(both(d).ends_with("labels.npy: row 40 holds a process speed of 0; labels must be > 0 (Accuracy20% divides by them)"));
    // The C-order position of each stored value.
    assert_eq!((0..6).map(|at| c_index(&[2, 3], true, at)).collect::<Vec<_>>(), vec![0, 3, 1, 4, 2, 5]);
    assert_eq!(c_index(&[2, 3], false, 4), 4);
}

/// Issue 23: a data path that is a symbolic link loop is said to be one, with the loop (not
/// "does not exist", nor the system's "Too many levels of symbolic links").
#[test]
fn a_symbolic_link_loop_is_said_to_be_one() {
    use std::os::unix::fs::symlink;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let (a, b) = (d.join("a"), d.join("b"));
    symlink(&b, &a).unwrap();
    symlink("a", &b).unwrap();
    let e = check_dataset(&a).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{}: is a symbolic link loop ({} -> {} -> {}); point the link at the data set directory", a.display(), a.display(), b.display(), a.display())
    );
    let e = read_meta(&a).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: is a symbolic link loop (", a.display())) && e.ends_with("); point the link at the data set directory"), "{e}");
    // A loop on the way to the set: the looping link named.
    let e = check_dataset(&a.join("train")).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: is a symbolic link loop (", a.display())) && e.ends_with("point the link at the directory it stands for"), "{e}");
    // A frames file that is a link to itself.
    let set = d.join("set");
    good(&set, 3);
    std::fs::remove_file(set.join("frames.npy")).unwrap();
    symlink("frames.npy", set.join("frames.npy")).unwrap();
    let f = set.join("frames.npy");
    assert_eq!(
        check_dataset(&set).unwrap_err().to_string(),
        format!("{}: is a symbolic link loop ({} -> {}); point the link at the .npy file", f.display(), f.display(), f.display())
    );
    // A link to nothing says where it points.
    let gone = d.join("gone");
    symlink("nowhere", &gone).unwrap();
    assert_eq!(check_dataset(&gone).unwrap_err().to_string(), format!("{}: is a symbolic link to nowhere, which does not exist", gone.display()));
}
