use super::{check_key, decide, fit, marker, strangers, Comment, CommentAction};
use crate::identity::{Author, Identity, GITHUB_ACTIONS};

fn comment(id: u64, body: &str) -> Comment {
    Comment {
        id,
        body: body.to_owned(),
        url: None,
        author: Author {
            id: Some(41_898_282),
            login: GITHUB_ACTIONS.to_owned(),
        },
    }
}

/// The same, written by `login`.
fn by(login: &str, id: u64, body: &str) -> Comment {
    Comment {
        author: Author {
            id: Some(7),
            login: login.to_owned(),
        },
        ..comment(id, body)
    }
}

#[test]
fn the_oldest_comment_carrying_the_key_is_updated_else_one_is_created() {
    let mine = format!("{}\nPlan: 1 to order", marker("prod"));
    let other = format!("{}\nPlan: 2 to order", marker("staging"));
    let quoted = format!("see `{}` above", marker("prod"));
    let table: Vec<(&str, Vec<Comment>, CommentAction)> = vec![
        ("none", vec![], CommentAction::Create),
        ("someone else's", vec![comment(1, "LGTM")], CommentAction::Create),
        ("another key's", vec![comment(1, &other)], CommentAction::Create),
        ("quoted inline", vec![comment(1, &quoted)], CommentAction::Create),
        (
            "mine among others",
            vec![comment(1, "LGTM"), comment(4, &mine), comment(5, &other)],
            CommentAction::Update { id: 4 },
        ),
        // Two jobs raced on the first push: the oldest, whatever the listing order.
        (
            "two of mine",
            vec![comment(9, &mine), comment(3, &mine)],
            CommentAction::Update { id: 3 },
        ),
        (
            "a key that prefixes mine",
            vec![comment(2, &format!("{}\n", marker("prod-eu")))],
            CommentAction::Create,
        ),
        // The marker pasted by someone else, before the bot's first comment or after it.
        (
            "someone else's only",
            vec![by("octo-alice", 1, &mine)],
            CommentAction::Create,
        ),
        (
            "someone else's, older than mine",
            vec![by("octo-alice", 1, &mine), comment(4, &mine)],
            CommentAction::Update { id: 4 },
        ),
        (
            "a look-alike login",
            vec![by("github-actions", 1, &mine), comment(4, &mine)],
            CommentAction::Update { id: 4 },
        ),
    ];
    let me = Identity::Login(GITHUB_ACTIONS.to_owned());
    for (name, existing, want) in table {
        assert_eq!(decide(&existing, "prod", &me), want, "{name}");
    }
    let existing = [by("octo-alice", 1, &mine), comment(4, &mine), by("octo-bob", 5, "LGTM")];
    let ignored: Vec<u64> = strangers(&existing, "prod", &me).iter().map(|c| c.id).collect();
    assert_eq!(ignored, [1]);
}

#[test]
fn a_key_cannot_break_out_of_its_marker() {
    for good in ["prod", "envs/prod.toml", "fleet@eu+1", "a_b-c.d"] {
        assert_eq!(check_key(good), Ok(()), "{good}");
    }
    for bad in ["", "a b", "x-->y", "a--b", "k:1", "line\nbreak", "ü", &"k".repeat(101)] {
        assert!(check_key(bad).is_err(), "{bad:?}");
    }
}

const URL: &str = "https://ci.example/runs/1";

/// The body's length in characters, and that it ends with the pointer when it was cut.
fn check(body: &str, limit: usize, cut: bool) {
    assert!(
        body.chars().count() <= limit,
        "{} > {limit}:\n{body}",
        body.chars().count()
    );
    assert!(body.starts_with(&format!("{}\n", marker("k"))), "{body}");
    assert_eq!(body.contains("left out"), cut, "{body}");
    if cut {
        assert!(
            body.trim_end().ends_with(&format!("the full plan is at {URL}.**")),
            "{body}"
        );
    }
}

/// (name, text, limit, None when it fits whole, else (what is kept and closes it, lines left out))
type Row = (&'static str, String, usize, Option<(String, usize)>);

#[test]
fn a_long_plan_is_cut_at_a_line_boundary_with_what_is_open_closed() {
    let head = marker("k").chars().count() + 1;
    // The room kept for the last line: as long as it can be, with every line left out.
    let note = |text: &str| {
        super::note(text.lines().count(), text.chars().count(), Some(URL))
            .chars()
            .count()
    };
    // Lines longer than the note, so that a text can be too long by one line.
    let l = |c: &str| format!("{c}{}\n", "x".repeat(199));
    let plain = format!("{}{}{}", l("1"), l("2"), l("3"));
    let fenced = format!("Plan\n```diff\n{}{}{}```\nend\n", l("+"), l("+"), l("+"));
    let details = format!(
        "<details><summary>acct</summary>\n\n{}{}</details>\n\n{}",
        l("+"),
        l("+"),
        l("after")
    );
    let fenced_3 = format!("Plan\n```diff\n{}", l("+"));
    let details_3 = format!("<details><summary>acct</summary>\n\n{}", l("+"));
    let unicode = "é".repeat(300);
    // (name, text, limit, None when it fits whole, else (what is kept and closes it, lines left out))
    let table: Vec<Row> = vec![
        ("fits", plain.clone(), head + plain.len(), None),
        ("no trailing newline fits", "one line".into(), head + 9, None),
        ("characters, not bytes", unicode.clone(), head + 301, None),
        (
            "one line short",
            plain.clone(),
            head + plain.len() - 1,
            Some((format!("{}{}", l("1"), l("2")), 1)),
        ),
        (
            "room for one line",
            plain.clone(),
            head + 201 + note(&plain),
            Some((l("1"), 2)),
        ),
        (
            "nothing kept",
            plain.clone(),
            head + note(&plain),
            Some((String::new(), 3)),
        ),
        (
            "cut in a fence closes it",
            fenced.clone(),
            head + fenced_3.len() + 4 + note(&fenced),
            Some((format!("{fenced_3}```\n"), 4)),
        ),
        (
            "no room for the fence's line",
            fenced.clone(),
            head + fenced_3.len() + 3 + note(&fenced),
            Some(("Plan\n```diff\n```\n".into(), 5)),
        ),
        (
            "cut in details closes it",
            details.clone(),
            head + details_3.len() + 11 + note(&details),
            Some((format!("{details_3}</details>\n"), 4)),
        ),
    ];
    for (name, text, limit, want) in table {
        let fitted = fit("k", &text, limit, Some(URL)).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(&fitted.body, limit, want.is_some());
        let rest = &fitted.body[marker("k").len() + 1..];
        match want {
            None => {
                assert_eq!(rest.trim_end(), text.trim_end(), "{name}");
                assert_eq!(fitted.lines_left_out, 0, "{name}");
            }
            Some((kept, left)) => {
                assert!(rest.starts_with(&format!("{kept}\n**Plan cut")), "{name}: {rest:?}");
                assert_eq!(fitted.lines_left_out, left, "{name}");
                let s = if left == 1 { "" } else { "s" };
                assert!(rest.contains(&format!(": {left} more line{s} (")), "{name}: {rest:?}");
            }
        }
    }
}

#[test]
fn every_cut_of_a_fleet_like_plan_fits_and_leaves_nothing_open() {
    let mut text = String::from("## Fleet plan\n\n");
    for i in 0..40 {
        text.push_str(&format!("<details><summary>account {i}</summary>\n\n```diff\n+ order products.pai\n+ order products.oss\n```\n</details>\n\n"));
    }
    for limit in (200..text.len() + 200).step_by(37) {
        let fitted = fit("k", &text, limit, Some(URL)).expect("fits");
        check(&fitted.body, limit, limit < text.len() + marker("k").len() + 1);
        let opened = fitted.body.matches("<details>").count();
        assert_eq!(
            opened,
            fitted.body.matches("</details>").count(),
            "{limit}: {}",
            fitted.body
        );
        assert_eq!(fitted.body.matches("```").count() % 2, 0, "{limit}: {}", fitted.body);
    }
}

#[test]
fn without_a_pointer_the_note_says_where_to_look_and_too_small_is_an_error() {
    let fitted = fit("k", &"line\n".repeat(100), 200, None).expect("fits");
    assert!(fitted.body.contains("in the CI run's output"), "{}", fitted.body);
    let err = fit("k", "a\nb\n", 10, Some(URL)).expect_err("too small");
    assert_eq!(err.limit, 10);
}

/// The apply jobs read the digest the reviewers saw from the comment's last line: a cut plan
/// keeps it, after the note.
#[test]
fn a_cut_plan_keeps_its_digest_line_last() {
    for last in ["Plan digest: `sha256:0123abcd`", "Fleet plan digest: `sha256:0123abcd`"] {
        let text = format!(
            "### pai-provision plan\n\n{}\n{last}\n",
            "| + | `products.x` |\n".repeat(200)
        );
        for limit in [300, 1_000, 3_000] {
            let fitted = fit("k", &text, limit, Some(URL)).expect("fits");
            assert!(fitted.body.chars().count() <= limit, "{limit}: {}", fitted.body);
            assert!(fitted.body.starts_with(&format!("{}\n", marker("k"))));
            assert!(
                fitted.body.contains(&format!("the full plan is at {URL}.**\n{last}")),
                "{limit}: {}",
                fitted.body
            );
            assert_eq!(
                fitted.body.trim_end().lines().last(),
                Some(last),
                "{limit}: {}",
                fitted.body
            );
            assert_eq!(fitted.body.matches(last).count(), 1);
        }
        let whole = fit("k", &text, 100_000, Some(URL)).expect("fits");
        assert_eq!(whole.body.trim_end().lines().last(), Some(last));
    }
}
