use super::*;
use crate::files::{SweepFile, FORMAT_VERSION};
use std::path::Path;

/// 3 x 4 x 4 = 48 models, 12 trained with strategy tpe in batches of 3: a start of 3, then rounds
/// 1 to 3 of 3.
const GRID: &str = r#"
name = "tpe-rounds"
[settings]
wc1 = 5
wc2 = 5
ncv2 = 8
iterations = 40
snapshots = 2
[search]
strategy = "tpe"
models = 12
batch = 3
seed = 7
[grid]
ncv1 = [4, 8, 16]
nfc1 = { int = [16, 64], step = 16 }
learning_rate = { choice = [0.001, 0.003, 0.01, 0.03] }
"#;

fn sweep_in(dir: &Path) -> (SweepDir, SweepFile) {
    let sd = SweepDir::new(dir);
    std::fs::write(sd.grid_copy(), GRID).unwrap();
    let grid = crate::grid::parse(&sd.grid_copy(), GRID).unwrap();
    let sweep = SweepFile { format: FORMAT_VERSION, name: grid.name.clone(), source: sd.grid_copy(), grid_sha256: String::new(), created_unix: 0, grid };
    (sd, sweep)
}

/// A score that favours nfc1 = 64 and a learning rate of 0.01: each model's from its settings.
fn finish(sd: &SweepDir, sweep: &SweepFile, models: Range<usize>) {
    for m in models {
        let spec = &sweep.grid.models[m];
        let md = sd.model(&spec.name);
        std::fs::create_dir_all(&md.root).unwrap();
        let mut res = ModelResult::empty(&sweep.name, spec, ResultStatus::Completed);
        res.best_accuracy20 = Some(0.5 + 0.3 * (spec.nfc1 == 64) as u8 as f64 + 0.1 * (spec.learning_rate == 0.01) as u8 as f64 + m as f64 * 1e-4);
        write_json_atomic(&md.result(), &res).unwrap();
    }
}

#[test]
fn the_shape_of_the_rounds() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, sweep) = sweep_in(tmp.path());
    let r = Rounds::of(&sweep.grid).unwrap();
    assert_eq!((r.models, r.start, r.batch, r.seed, r.lens.clone(), r.last()), (12, 3, 3, 7, vec![3, 4, 4], 3));
    assert_eq!((r.models_of(0), r.models_of(1), r.models_of(3)), (0..3, 3..6, 9..12));
    assert_eq!((r.round_of(2), r.round_of(3), r.round_of(11)), (0, 1, 3));
    // The random start: only it is known at first, named for the 12 models to come.
    assert_eq!(sweep.grid.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["Model-000", "Model-001", "Model-002"]);
    // A batch that does not divide: the last round is short.
    let r2 = Rounds { models: 10, start: 2, batch: 3, seed: 0, lens: vec![4, 4] };
    assert_eq!((r2.last(), r2.models_of(3)), (3, 8..10));
}

#[test]
fn rounds_are_proposed_in_turn_from_the_files_and_every_reader_sees_their_models() {
    let tmp = tempfile::tempdir().unwrap();
    let (sd, frozen) = sweep_in(tmp.path());
    let r = Rounds::of(&frozen.grid).unwrap();
    // Nothing finished: round 1 waits, and says for which model.
    let e = take(&sd, &frozen, 1).unwrap_err().to_string();
    assert!(e.starts_with("round 1 cannot be proposed yet: Model-000 (round 0) has not finished"), "{e}");
    assert!(matches!(take(&sd, &frozen, 2), Err(RoundError::NotYet { round: 2, before: 1 })));
    assert!(matches!(take(&sd, &frozen, 4), Err(RoundError::NoSuchRound { round: 4, last: 3 })));
    finish(&sd, &frozen, 0..3);
    let mut sweep = with_proposals(&sd, frozen.clone()).unwrap();
    for round in 1..=r.last() {
        let f = take(&sd, &sweep, round).unwrap();
        assert_eq!(f.observed.len(), r.models_of(round).start);
        // Read back the same, by whoever comes next.
        assert_eq!(take(&sd, &sweep, round).unwrap(), f);
        sweep = with_proposals(&sd, frozen.clone()).unwrap();
        assert_eq!(sweep.grid.models.len(), r.models_of(round).end);
        finish(&sd, &sweep, r.models_of(round));
    }
    let names: Vec<String> = sweep.grid.models.iter().map(|m| m.name.clone()).collect();
    assert_eq!(names.len(), 12);
    assert_eq!(names[11], "Model-011");
    // No two models alike, and the proposals are what the library's TPE trains with these scores.
    let idx: Vec<usize> = sweep.grid.positions.iter().map(|p| tpe::index(&r.lens, p)).collect();
    let mut uniq = idx.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 12);
    let score_of = |m: usize| {
        let p = tpe::positions(&r.lens, m);
        let s = sweep.grid.positions.iter().position(|q| *q == p).map(|k| {
            let spec = &sweep.grid.models[k];
            0.5 + 0.3 * (spec.nfc1 == 64) as u8 as f64 + 0.1 * (spec.learning_rate == 0.01) as u8 as f64 + k as f64 * 1e-4
        });
        s.unwrap_or(f64::NAN)
    };
    assert_eq!(tpe::run(&r.lens, &score_of, 12, 3, 7).unwrap(), idx);
    // The models a round proposed have the settings of their values.
    for (m, p) in sweep.grid.models.iter().zip(&sweep.grid.positions) {
        assert_eq!((m.ncv1, m.nfc1), ([4, 8, 16][p[0]], 16 + 16 * p[1] as u32), "{}", m.name);
    }
}

#[test]
fn an_edited_round_file_is_refused_by_every_reader_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (sd, frozen) = sweep_in(tmp.path());
    finish(&sd, &frozen, 0..3);
    take(&sd, &frozen, 1).unwrap();
    let path = sd.round_file(1);
    let good = std::fs::read_to_string(&path).unwrap();
    let edit = |f: &dyn Fn(&mut RoundFile)| {
        let mut rf: RoundFile = serde_json::from_str(&good).unwrap();
        f(&mut rf);
        write_json_atomic(&path, &rf).unwrap();
        with_proposals(&sd, frozen.clone()).unwrap_err().to_string()
    };
    let e = edit(&|rf| rf.proposed[0].values = vec![0, 0, 0]);
    assert!(e.contains("round-1.json: its proposal is not what the TPE proposes from the scores it records: Model-003"), "{e}");
    let e = edit(&|rf| rf.observed[2].score = Some(0.99));
    assert!(e.contains("round-1.json: its proposal is not what the TPE proposes"), "{e}");
    let e = edit(&|rf| rf.seed = 8);
    assert!(e.contains("it was proposed for seed 8, batch 3, models 12; the sweep's [search] has seed 7"), "{e}");
    let e = edit(&|rf| rf.observed.pop().map(drop).unwrap_or_default());
    assert!(e.contains("it was proposed from 2 model(s) (Model-000 ... Model-001); the models before round 1 are 3"), "{e}");
    let e = edit(&|rf| rf.proposed[2].model = "Model-009".into());
    assert!(e.contains("it proposes Model-003, Model-004, Model-009"), "{e}");
    let e = edit(&|rf| rf.stream_from = 5);
    assert!(e.contains("its random stream starts at 5; the round before ended it at 0"), "{e}");
    let e = edit(&|rf| rf.stream_to += 1);
    assert!(e.contains("its random stream ends at"), "{e}");
    std::fs::write(&path, "{ not json").unwrap();
    let e = with_proposals(&sd, frozen.clone()).unwrap_err().to_string();
    assert!(e.contains("round-1.json"), "{e}");
    std::fs::write(&path, &good).unwrap();
    assert_eq!(with_proposals(&sd, frozen.clone()).unwrap().grid.models.len(), 6);
}

#[test]
fn a_failed_model_scores_worst_and_a_preempted_one_holds_the_round_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (sd, frozen) = sweep_in(tmp.path());
    finish(&sd, &frozen, 0..3);
    let md = sd.model("Model-001");
    let mut res = ModelResult::empty(&frozen.name, &frozen.grid.models[1], ResultStatus::Preempted);
    write_json_atomic(&md.result(), &res).unwrap();
    let e = take(&sd, &frozen, 1).unwrap_err().to_string();
    assert!(e.contains("Model-001 (round 0) stopped preempted before its end"), "{e}");
    assert!(!sd.round_file(1).exists());
    res.status = ResultStatus::Failed;
    res.reason = Some("diverged".into());
    write_json_atomic(&md.result(), &res).unwrap();
    let f = take(&sd, &frozen, 1).unwrap();
    assert_eq!(f.observed[1].score, None);
    assert!(f.observed[0].score.is_some());
    // Retrained later (`cyplam submit` trains a failed model again), it completes: round 1 stays
    // as proposed, and round 2 is proposed from the new score; every reader still accepts both.
    res.status = ResultStatus::Completed;
    res.best_accuracy20 = Some(0.97);
    write_json_atomic(&md.result(), &res).unwrap();
    let sweep = with_proposals(&sd, frozen.clone()).unwrap();
    finish(&sd, &sweep, 3..6);
    let f2 = take(&sd, &sweep, 2).unwrap();
    assert_eq!(f2.observed[1].score, Some(0.97));
    assert_eq!(f2.stream_from, f.stream_to);
    assert_eq!(with_proposals(&sd, frozen.clone()).unwrap().grid.models.len(), 9);
    assert_eq!(take(&sd, &sweep, 1).unwrap(), f);
    // The sweep as frozen (its random start alone) reads the same rounds back.
    assert_eq!(take(&sd, &frozen, 2).unwrap(), f2);
}

#[test]
fn a_sweep_without_tpe_is_left_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let sd = SweepDir::new(tmp.path());
    let text = GRID.replace("strategy = \"tpe\"", "strategy = \"random\"").replace("batch = 3\n", "");
    let grid = crate::grid::parse(Path::new("g.toml"), &text).unwrap();
    assert_eq!(grid.models.len(), 12);
    assert!(Rounds::of(&grid).is_none());
    let sweep = SweepFile { format: FORMAT_VERSION, name: grid.name.clone(), source: "g.toml".into(), grid_sha256: String::new(), created_unix: 0, grid };
    assert_eq!(with_proposals(&sd, sweep.clone()).unwrap().grid, sweep.grid);
}
