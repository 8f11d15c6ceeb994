//! Unit tests of signatures, grouping and telling params.

use super::*;
use serde_json::json;

fn sig(error: &str) -> String {
    signature(error)
}

#[test]
fn numbers_of_every_form_are_n() {
    assert_eq!(sig("exit code 1"), "exit code N");
    assert_eq!(sig("exit code 2"), sig("exit code 137"));
    assert_eq!(sig("loss -0.5 at step +3"), "loss N at step N");
    assert_eq!(sig("lr 1e-5, 1.5E+10, 2e3, .5, 3."), "lr N, N, N, N, N.");
    assert_eq!(sig("x=-3 y=-.25"), "x=N y=N");
    assert_eq!(sig("0.000123456 and 123456e-5"), "N and N");
    assert_eq!(
        sig("Tried to allocate 20.00 MiB (GPU 0; 15.78 GiB total)"),
        "Tried to allocate N MiB (GPU N; N GiB total)"
    );
}

#[test]
fn a_number_inside_a_word_is_n_and_a_hyphen_is_no_sign() {
    assert_eq!(sig("cuda:0 worker12 float32"), "cuda:N workerN floatN");
    assert_eq!(sig("config lr0.1-s0 failed"), "config lrN-sN failed");
    assert_eq!(sig("a-3 10-20 2024-01-02"), "a-N N-N N-N-N");
    assert_eq!(sig("12:34:56 v1.2.3 45%"), "N:N:N vN.N N%");
    // An exponent needs digits: `3e` is a number and a letter.
    assert_eq!(sig("3e 3ex"), "Ne Nex");
}

#[test]
fn hex_runs_of_six_or_more_are_h_numbers_are_not() {
    assert_eq!(sig("commit 3f2a9c81 failed"), "commit H failed");
    assert_eq!(sig("id deadbeef"), "id H");
    assert_eq!(sig("at 0x7f3a9c2b, 0X00FFAA00"), "at H, H");
    assert_eq!(sig("flags 0x1f"), "flags N");
    assert_eq!(sig("sha256:9f86d081884c7d65 run_abc123def"), "shaN:H run_H");
    assert_eq!(sig("uuid 123e4567-e89b-12d3-a456-426614174000 gone"), "uuid H gone");
    // All digits is a number, however long; short hex is left as it is.
    assert_eq!(sig("pid 1234567"), "pid N");
    assert_eq!(sig("code beef 12ab"), "code beef Nab");
    // A run that reads as a number whole is one.
    assert_eq!(sig("1234e10 1e100000"), "N N");
    // Inside a word a hex run is no id: only its digits are masked.
    assert_eq!(sig("xabcdef123"), "xabcdefN");
    assert_eq!(sig("abc12 abc123"), "abcN H");
}

#[test]
fn tokens_with_a_slash_are_path_and_keep_their_punctuation() {
    assert_eq!(sig("No such file: /data/run42/x.csv"), "No such file: PATH");
    assert_eq!(sig("at (/a/b.py:3), then"), "at (PATH), then");
    assert_eq!(sig("open /tmp/a: denied"), "open PATH: denied");
    assert_eq!(sig("see https://x.org/a?b=1."), "see PATH.");
    assert_eq!(sig("step 12/20 of ./run.sh"), "step PATH of PATH");
    assert_eq!(sig("/a/1 /b/2"), sig("/c/3 /d/deadbeef"));
}

#[test]
fn quoted_texts_are_one_mark_and_an_unclosed_quote_stays() {
    assert_eq!(sig("KeyError: 'lr'"), "KeyError: \"…\"");
    assert_eq!(sig(r#"No such file or directory: '/data/a b/x.csv'"#), r#"No such file or directory: "…""#);
    assert_eq!(sig(r#"bad value "a \"b\" 3" here"#), r#"bad value "…" here"#);
    assert_eq!(sig("can't open 'x' or 'y'"), "can't open \"…\" or \"…\"");
    assert_eq!(sig("'it's 3'"), "\"…\"");
    assert_eq!(sig("the users' files 3"), "the users' files N");
    assert_eq!(sig("unclosed 'quote 42 /a/b"), "unclosed 'quote N PATH");
    assert_eq!(sig(r#"say "12 and 'x'"#), r#"say "N and "…""#);
    assert_eq!(sig("{'a': 1, 'b': 2}"), "{\"…\": N, \"…\": N}");
    assert_eq!(sig("''"), "\"…\"");
}

#[test]
fn whitespace_and_other_text_are_kept_byte_for_byte() {
    assert_eq!(sig(""), "");
    assert_eq!(sig("  two\tspaces  "), "  two\tspaces  ");
    assert_eq!(sig("é 3 ü4 日本 5"), "é N üN 日本 N");
    assert_eq!(sig("-"), "-");
    assert_eq!(sig("--5 - +"), "-N - +");
}

#[test]
fn errors_that_differ_only_in_numbers_hex_and_paths_share_a_signature() {
    let a = "exit code 1: RuntimeError: CUDA out of memory. Tried to allocate 3021 MiB on /dev/nvidia0 (ctx 0x7f3a9c2b)";
    let b = "exit code 2: RuntimeError: CUDA out of memory. Tried to allocate 12.5 MiB on /dev/nvidia3 (ctx 0xdeadbeef01)";
    assert_eq!(sig(a), sig(b));
    assert_eq!(
        sig(a),
        "exit code N: RuntimeError: CUDA out of memory. Tried to allocate N MiB on PATH (ctx H)"
    );
    assert_ne!(sig("exit code 1: ValueError"), sig("exit code 1: KeyError"));
}

fn failure(name: &str, error: &str, params: serde_json::Value) -> Failure {
    let params = params.as_object().unwrap().clone();
    Failure { name: name.into(), error: error.into(), params: pairs(&Params::new(), &params) }
}

/// Groups from failures and the params of every config (failed ones too).
fn grouped(failures: Vec<Failure>, all: &[serde_json::Value]) -> Vec<Group> {
    let drafts = draft(failures);
    let mut counter = Counter::new(&drafts);
    for params in all {
        counter.count(&Params::new(), params.as_object().unwrap());
    }
    finish(drafts, &counter)
}

#[test]
fn groups_come_largest_first_then_by_signature_names_in_order() {
    let failures = vec![
        failure("a", "exit code 1: b", json!({})),
        failure("b", "exit code 2: a", json!({})),
        failure("c", "exit code 3: b", json!({})),
        failure("d", "exit code 4: c", json!({})),
        failure("e", "exit code 5: c", json!({})),
        failure("f", "exit code 6: z", json!({})),
    ];
    let groups = grouped(failures, &vec![json!({}); 6]);
    let summary: Vec<(&str, Vec<&str>, &str)> = groups
        .iter()
        .map(|g| (g.signature.as_str(), g.names.iter().map(|n| n.as_str()).collect(), g.example.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("exit code N: b", vec!["a", "c"], "exit code 1: b"),
            ("exit code N: c", vec!["d", "e"], "exit code 4: c"),
            ("exit code N: a", vec!["b"], "exit code 2: a"),
            ("exit code N: z", vec!["f"], "exit code 6: z"),
        ]
    );
}

#[test]
fn the_telling_rule_in_numbers() {
    // Held by all of a group of 2 or more, not by all configs.
    assert!(Telling::is_telling(2, 2, 5, 10));
    assert!(Telling::is_telling(2, 2, 9, 10));
    assert!(!Telling::is_telling(2, 2, 10, 10));
    assert!(!Telling::is_telling(1, 1, 1, 10));
    // Twice as frequent, a group of 3 or more: 2/3 >= 2 * 3/10, not 2 * 4/10.
    assert!(Telling::is_telling(2, 3, 3, 10));
    assert!(!Telling::is_telling(2, 3, 4, 10));
    // Exactly twice is enough; a group of 2 needs every config.
    assert!(Telling::is_telling(3, 6, 25, 100));
    assert!(!Telling::is_telling(1, 2, 1, 100));
    // Held by every config of the experiment: never telling.
    assert!(!Telling::is_telling(3, 3, 10, 10));
}

#[test]
fn telling_params_all_have_twice_as_frequent_and_not_everywhere() {
    // 12 configs, all with opt=adam; batch 512 in 4 (all of them fail the
    // same way); lr 0.1 in 3 of 12, of which 2 of the 3 failing with "nan".
    let mut all = Vec::new();
    let mut failures = Vec::new();
    for i in 0..12 {
        let batch = if i < 4 { 512 } else { 64 };
        let lr = if i % 4 == 1 { 0.1 } else { 0.01 };
        let params = json!({"opt": "adam", "batch": batch, "lr": lr, "i": i});
        all.push(params.clone());
        if batch == 512 {
            failures.push(failure(&format!("c{i}"), &format!("exit code 1: OOM {i}"), params));
        } else if i >= 8 {
            failures.push(failure(&format!("c{i}"), "exit code 1: loss is nan", params));
        }
    }
    let groups = grouped(failures, &all);
    assert_eq!(groups.len(), 2);
    let oom = &groups[0];
    assert_eq!(oom.signature, "exit code N: OOM N");
    let keys: Vec<&String> = oom.params.keys().collect();
    // batch=512 by all 4 (4 of 12 overall); lr=0.1 by 1 of 4 (3 of 12) is
    // not twice as frequent; opt is everywhere; each i is held by 1 of 4,
    // 1 of 12 overall: 3 times as frequent.
    assert_eq!(keys, ["batch", "i"]);
    assert_eq!(
        oom.params["batch"],
        [Telling { value: json!(512), in_group: 4, group: 4, in_all: 4, all: 12 }]
    );
    assert_eq!(oom.params["i"].len(), 4);
    let nan = &groups[1];
    assert_eq!(nan.names, ["c8", "c9", "c10", "c11"]);
    assert_eq!(nan.params["batch"][0].value, json!(64), "all have batch=64 (8 of 12)");
    // lr=0.1: 1 of 4 failing (c9) vs 3 of 12: not telling; lr=0.01: 3 of 4 vs 9 of 12: not.
    assert!(!nan.params.contains_key("lr"), "{:?}", nan.params);
    assert!(!nan.params.contains_key("opt"));
    assert_eq!(nan.telling().split("; ").next().unwrap(), "all have batch=64");
}

#[test]
fn defaults_count_as_params() {
    let defaults = json!({"batch": 512}).as_object().unwrap().clone();
    let own = json!({"lr": 0.1}).as_object().unwrap().clone();
    let mut pairs = pairs(&defaults, &own);
    pairs.sort();
    assert_eq!(pairs, [("batch".to_string(), "512".to_string()), ("lr".to_string(), "0.1".to_string())]);
    let failures = vec![
        Failure { name: "a".into(), error: "x".into(), params: pairs.clone() },
        Failure { name: "b".into(), error: "x".into(), params: pairs.clone() },
    ];
    let drafts = draft(failures);
    let mut counter = Counter::new(&drafts);
    counter.count(&defaults, &own);
    counter.count(&defaults, &own);
    counter.count(&defaults, json!({"batch": 64}).as_object().unwrap());
    let groups = finish(drafts, &counter);
    assert_eq!(groups[0].params["batch"][0].in_all, 2);
    assert_eq!(groups[0].params["lr"][0].in_all, 2);
    assert_eq!(groups[0].telling(), "all have batch=512, lr=0.1");
}

#[test]
fn the_json_line_has_its_shape() {
    let groups = grouped(
        vec![
            failure("a", "exit code 1: x", json!({"b": "s"})),
            failure("c", "exit code 2: x", json!({"b": "s"})),
        ],
        &[json!({"b": "s"}), json!({"b": "s"}), json!({"b": "t"})],
    );
    let line = serde_json::to_string(&groups[0].line(1)).unwrap();
    assert_eq!(
        line,
        r#"{"group":1,"signature":"exit code N: x","count":2,"example":"exit code 1: x","names":["a","c"],"params":{"b":[{"value":"s","in_group":2,"group":2,"in_all":2,"all":3}]}}"#
    );
}

#[test]
fn the_table_names_the_pattern_counts_and_the_retry() {
    console::set_colors_enabled(false);
    let failures: Vec<Failure> = (0..14)
        .map(|i| {
            failure(&format!("c{i}"), &format!("exit code 1: OOM {i} MiB"), json!({"batch": 512, "i": 0}))
        })
        .chain([failure("d", "killed by SIGKILL", json!({"batch": 64, "i": 0}))])
        .collect();
    let mut all = vec![json!({"batch": 512, "i": 0}); 14];
    all.extend(vec![json!({"batch": 64, "i": 0}); 86]);
    let groups = grouped(failures, &all);
    let totals = Totals { failed: 15, all: 100, groups: 2 };
    let text = table(&groups, 1, totals, "runs/my exp", None);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "15 of 100 configs failed, 2 kinds of error:");
    assert_eq!(lines[1], "#1  14 × exit code N: OOM N MiB — all have batch=512");
    assert_eq!(lines[2], "    c0, c1, c2, and 11 more");
    assert_eq!(lines[3], "    e.g. exit code 1: OOM 0 MiB");
    assert_eq!(
        lines[4],
        "    retry: exp-status 'runs/my exp' --failures --group 1 --names | exp-clean 'runs/my exp' --names - --reset"
    );
    assert_eq!(lines[5], "");
    assert_eq!(lines[6], "#2   1 × killed by SIGKILL");
    assert_eq!(lines[7], "    d");
    assert!(lines[8].starts_with("    retry: exp-status 'runs/my exp' --failures --group 2"), "{text}");
    // Cut to a terminal's width, the signature gives way to the telling params.
    let narrow = table(&groups, 1, totals, "d", Some(44));
    let headline = narrow.lines().nth(1).unwrap();
    assert_eq!(headline, "#1  14 × exit code N: … — all have batch=512");
    assert!(
        narrow.lines().filter(|l| !l.contains("retry:")).all(|l| console::measure_text_width(l) <= 44),
        "{narrow}"
    );
}

#[test]
fn the_table_keeps_each_group_on_its_lines() {
    console::set_colors_enabled(false);
    let groups = grouped(
        vec![failure("a", "boom\nat 3\x1b[31m", json!({})), failure("b", "boom\nat 4\x1b[31m", json!({}))],
        &[json!({}), json!({})],
    );
    let text = table(&groups, 1, Totals { failed: 2, all: 2, groups: 1 }, "d", None);
    assert_eq!(text.lines().nth(1), Some("#1  2 × boom at N [Nm"), "{text}");
    assert_eq!(text.lines().nth(3), Some("    e.g. boom at 3 [31m"), "{text}");
    assert!(!text.contains('\x1b'));
}

#[test]
fn the_frequency_case_reads_as_counts() {
    let t = Telling { value: json!(512), in_group: 9, group: 14, in_all: 12, all: 100 };
    let group = Group {
        signature: "s".into(),
        example: "s".into(),
        names: vec![],
        params: BTreeMap::from([("batch".to_string(), vec![t])]),
    };
    assert_eq!(group.telling(), "batch=512 in 9 of 14 (12% overall)");
    assert_eq!(percent(1, 1000), "0.1%");
    assert_eq!(percent(1, 100_000), "<0.1%");
}

#[test]
fn names_are_grouped_with_blank_lines() {
    let groups = grouped(
        vec![failure("a", "x 1", json!({})), failure("b", "y", json!({})), failure("c", "x 2", json!({}))],
        &[json!({}), json!({}), json!({})],
    );
    assert_eq!(names(&groups), "a\nc\n\nb\n");
    assert_eq!(names(&[]), "");
}

proptest::proptest! {
    /// Any text has a signature (no panic on any char boundary), and a
    /// signature is its own: masking twice changes nothing.
    #[test]
    fn signatures_are_total_and_stable(text in r#"([ a-f0-9xX./'"\\:+\-eE_é日]|[A-Za-z]{1,4}|[0-9]{1,8}){0,24}"#) {
        let once = signature(&text);
        proptest::prop_assert_eq!(signature(&once), once.clone(), "{:?}", text);
    }
}
