//! The shell lexer's spots and refusals, on templates written with `@` for placeholders.

use super::*;

/// The template's text with `@` as the placeholders.
fn spots_of(text: &str) -> Vec<Result<Spot, Refusal>> {
    let mut hole = 0;
    let items: Vec<Item> = text
        .chars()
        .map(|c| {
            if c == '@' {
                hole += 1;
                Item::Hole(hole - 1)
            } else {
                Item::Char(c)
            }
        })
        .collect();
    spots(&items)
}

fn inside(text: &str) -> Vec<Option<&'static str>> {
    spots_of(text)
        .into_iter()
        .map(|spot| match spot {
            Ok(_) => None,
            Err(Refusal::Inside(what)) => Some(what),
            Err(Refusal::After(_)) => Some("after"),
            Err(Refusal::AfterBackslash) => Some("right after a backslash"),
            Err(Refusal::AfterDollar) => Some("right after a $"),
        })
        .collect()
}

#[test]
fn accepted_spots() {
    assert_eq!(
        spots_of(r#"echo @ "x @" 'y @' "$a@" $a@ ~@ ~/@"#),
        [
            Ok(Spot::Bare { plain: true }),
            Ok(Spot::Double { plain: true }),
            Ok(Spot::Single),
            Ok(Spot::Double { plain: false }),
            Ok(Spot::Bare { plain: false }),
            Ok(Spot::Bare { plain: false }),
            Ok(Spot::Bare { plain: true }),
        ]
    );
    assert_eq!(spots_of("IFS=.; echo @"), [Ok(Spot::Bare { plain: false })]);
    assert_eq!(
        inside("start=$(date +%s.%N); python x.py @ \"$(echo \")\")\" @ `a` @ ${x:-}@ $((1+2))@"),
        [None; 5]
    );
    assert_eq!(inside("cat <<EOF; echo @\nbody $(x)\nEOF\necho @"), [None, Some("after")]);
    assert_eq!(inside("cat <<'EOF'; echo @\nbody\n EOF\nEOF\necho @"), [None, None]);
    assert_eq!(inside("cat <<-\"E\"\n\t\tbody\n\tE\necho @"), [None]);
    assert_eq!(inside("echo a#b @ # c\necho @"), [None, None]);
    assert_eq!(inside("echo \\\\@ '\\@' \"\\\\@\" x \\\n @"), [None, None, None, None]);
    assert_eq!(inside("echo $$@ $1@ ${#}@ \"$\"@"), [None, None, None, None]);
    assert_eq!(inside("[[ \"@\" == a ]] && [[ 1 -eq 1 ]] && echo @"), [None, None]);
}

#[test]
fn refused_spots() {
    for (text, why) in [
        ("echo $(echo @)", "inside $(...)"),
        ("echo \"$(echo @)\"", "inside $(...)"),
        ("echo \"$(echo '@')\"", "inside $(...)"),
        ("echo `echo @`", "inside `...`"),
        ("echo \"`echo @`\"", "inside `...`"),
        ("echo ${x:-@}", "inside ${...}"),
        ("echo $(( @ + 1 ))", "inside $((...))"),
        ("(( i = @ ))", "inside (( ))"),
        ("cat <<EOF\n@\nEOF", "in a here-document"),
        ("cat <<'EOF'\nx @\nEOF", "in a here-document"),
        ("cat <<@\nx\n", "in a here-document's delimiter"),
        ("echo # @", "in a comment"),
        ("echo \\@", "right after a backslash"),
        ("echo \"\\@\"", "right after a backslash"),
        ("echo $@", "right after a $"),
        ("echo \"$@\"", "right after a $"),
        ("echo $'@'", "inside $'...'"),
        ("echo $\"@\"", "inside $\"...\""),
        ("echo $[@ + 1]", "inside $[...]"),
        ("[[ \"@\" -gt 1 ]] && echo", "inside a [[ ]] that compares numbers (bash evaluates its operands)"),
    ] {
        assert_eq!(inside(text), [Some(why)], "{text:?}");
    }
}

#[test]
fn what_exp_cannot_read_for_sure_refuses_what_follows() {
    for text in [
        "echo \"$(case x in x) echo @;; esac)\"",
        "echo \"$(case x in x) echo;; esac)\" @",
        "echo \"${x:-'}'}\" @",
        "echo ${x:-{a}} @",
        "echo $'a\\'b' @",
        "echo \"unterminated @",
        "echo 'unterminated @",
        "echo $(unterminated @",
        "cat <<EOF\nnever ends\n@",
        "echo a\\\n@",
        "echo $\\\n(echo \"@\")",
        "x=$(( '1' )) @",
        "cat <<EOF; x=$(\necho)\nEOF\n@",
        "cat <<\\@\nx\n",
    ] {
        assert!(spots_of(text).iter().all(Result::is_err), "{text:?}: {:?}", spots_of(text));
    }
}

#[test]
fn quoting_by_spot() {
    let bare = Spot::Bare { plain: true };
    assert_eq!(bare.quote("0.1"), "0.1");
    assert_eq!(bare.quote("a b"), "'a b'");
    assert_eq!(bare.quote("it's"), r"'it'\''s'");
    assert_eq!(bare.quote(""), "''");
    assert_eq!(bare.quote("done"), "'done'");
    assert_eq!(bare.quote("A=1"), "'A=1'");
    assert_eq!(Spot::Bare { plain: false }.quote("x"), "'x'");
    assert_eq!(Spot::Double { plain: true }.quote("0.1"), "0.1");
    assert_eq!(Spot::Double { plain: true }.quote("$(x)"), "\"'$(x)'\"");
    assert_eq!(Spot::Single.quote("a'b"), r"a'\''b");
}
