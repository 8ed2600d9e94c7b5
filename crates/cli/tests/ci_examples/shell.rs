//! Just enough of the POSIX shell grammar to find every simple command of a CI script, with its
//! words as the shell would pass them: quotes removed, `\`-newline continuations joined,
//! redirections dropped, and the commands inside `$(...)` and `<(...)` found too. Expansions are
//! replaced by sample values (`vars`), since the point is to check the flags a command line
//! gives, not the values a runner would have. Not handled (none of the examples use them):
//! here-documents, backquotes, `case` patterns spanning lines.

/// One word of a command, after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// A word that stays one word.
    Text(String),
    /// `"$@"` or `"${name[@]}"`: any number of words, unknown here.
    List,
}

impl Word {
    pub fn text(&self) -> Option<&str> {
        match self {
            Word::Text(t) => Some(t),
            Word::List => None,
        }
    }
}

/// The words of every simple command in `script`, in order, the commands of `$(...)` included
/// (before the command that contains them). Leading `NAME=value` assignments and reserved words
/// (`if`, `then`, `do`, `!` ...) are dropped, so the first word is the command's name.
pub fn commands(script: &str, vars: &dyn Fn(&str) -> String) -> Vec<Vec<Word>> {
    let chars: Vec<char> = script.chars().collect();
    let mut lexer = Lexer {
        chars: &chars,
        pos: 0,
        vars,
        found: Vec::new(),
    };
    lexer.script(false);
    lexer.found
}

/// The commands whose name is `name` (a path ending in `/name` too), without the name.
pub fn invocations(script: &str, name: &str, vars: &dyn Fn(&str) -> String) -> Vec<Vec<Word>> {
    commands(script, vars)
        .into_iter()
        .filter_map(|words| {
            let first = words.first()?.text()?;
            let base = first.rsplit('/').next().unwrap_or(first);
            (base == name).then(|| words[1..].to_vec())
        })
        .collect()
}

const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "time",
];

struct Lexer<'a> {
    chars: &'a [char],
    pos: usize,
    vars: &'a dyn Fn(&str) -> String,
    found: Vec<Vec<Word>>,
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    /// Reads commands up to the end, or (`nested`) up to the `)` that closes a `$(` or `<(`.
    fn script(&mut self, nested: bool) {
        let mut words: Vec<Word> = Vec::new();
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' => self.pos += 1,
                '\\' if self.peek(1) == Some('\n') => self.pos += 2,
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                ')' if nested => {
                    self.pos += 1;
                    break;
                }
                '\n' | ';' | '&' | '|' | '(' | ')' => {
                    self.pos += 1;
                    self.finish(std::mem::take(&mut words));
                }
                '<' | '>' => self.redirection(),
                _ => {
                    let word = self.word();
                    // `2>file`, `2>&1`: a word of digits right before a redirection is its
                    // file descriptor.
                    let is_fd = matches!(&word, Word::Text(t) if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()))
                        && matches!(self.peek(0), Some('<' | '>'));
                    if !is_fd {
                        words.push(word);
                    }
                }
            }
        }
        self.finish(words);
    }

    fn finish(&mut self, words: Vec<Word>) {
        let command = strip_prefix_words(words);
        if !command.is_empty() {
            self.found.push(command);
        }
    }

    /// `>`, `>>`, `>&`, `<`, `<<`, and their target word, which is dropped; `<(...)` and `>(...)`
    /// are commands of their own.
    fn redirection(&mut self) {
        if self.peek(1) == Some('(') {
            self.pos += 2;
            self.script(true);
            return;
        }
        while matches!(self.peek(0), Some('<' | '>' | '&')) {
            self.pos += 1;
        }
        while matches!(self.peek(0), Some(' ' | '\t')) {
            self.pos += 1;
        }
        if self.peek(0).is_some_and(|c| !"\n;&|()".contains(c)) {
            self.word();
        }
    }

    /// One word, up to unquoted white space or an operator.
    fn word(&mut self) -> Word {
        let mut text = String::new();
        let mut list = false;
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>' => break,
                '\'' => {
                    self.pos += 1;
                    while let Some(c) = self.peek(0) {
                        self.pos += 1;
                        if c == '\'' {
                            break;
                        }
                        text.push(c);
                    }
                }
                '"' => {
                    self.pos += 1;
                    list |= self.double_quoted(&mut text);
                }
                '\\' => {
                    match self.peek(1) {
                        Some('\n') => {}
                        Some(next) => text.push(next),
                        None => {}
                    }
                    self.pos += 2;
                }
                '$' => list |= self.expansion(&mut text),
                _ => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        if list && text.is_empty() {
            Word::List
        } else {
            Word::Text(text)
        }
    }

    /// The inside of `"..."`, the opening quote read; true for a `"$@"`-like list.
    fn double_quoted(&mut self, text: &mut String) -> bool {
        let mut list = false;
        while let Some(c) = self.peek(0) {
            match c {
                '"' => {
                    self.pos += 1;
                    break;
                }
                '\\' if matches!(self.peek(1), Some('"' | '\\' | '$' | '`' | '\n')) => {
                    if self.peek(1) != Some('\n') {
                        text.push(self.peek(1).unwrap_or('\\'));
                    }
                    self.pos += 2;
                }
                '$' => list |= self.expansion(text),
                _ => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        list
    }

    /// `$NAME`, `${...}`, `$(...)`, `$((...))`, `$@` ...: appends the sample value; true for a
    /// list expansion (`$@`, `${name[@]}`), which appends nothing.
    fn expansion(&mut self, text: &mut String) -> bool {
        self.pos += 1;
        match self.peek(0) {
            Some('(') if self.peek(1) == Some('(') => {
                let mut depth = 0usize;
                while let Some(c) = self.peek(0) {
                    self.pos += 1;
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                text.push('1');
                false
            }
            Some('(') => {
                self.pos += 1;
                self.script(true);
                text.push('x');
                false
            }
            Some('{') => {
                let start = self.pos + 1;
                while self.peek(0).is_some_and(|c| c != '}') {
                    self.pos += 1;
                }
                let inside: String = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                if inside.ends_with("[@]") || inside.ends_with("[*]") {
                    return true;
                }
                let name: String = inside
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                text.push_str(&(self.vars)(&name));
                false
            }
            Some('@' | '*') => {
                self.pos += 1;
                true
            }
            Some(c) if c == '?' || c == '$' || c == '!' || c == '#' || c.is_ascii_digit() => {
                self.pos += 1;
                text.push('1');
                false
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.pos;
                while self.peek(0).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.pos += 1;
                }
                let name: String = self.chars[start..self.pos].iter().collect();
                text.push_str(&(self.vars)(&name));
                false
            }
            _ => {
                text.push('$');
                false
            }
        }
    }
}

/// Drops the assignments and reserved words that come before a command's name.
fn strip_prefix_words(words: Vec<Word>) -> Vec<Word> {
    let skip = words
        .iter()
        .take_while(|w| match w {
            Word::Text(t) => RESERVED.contains(&t.as_str()) || is_assignment(t),
            Word::List => false,
        })
        .count();
    words.into_iter().skip(skip).collect()
}

fn is_assignment(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else {
        return false;
    };
    let name = name.strip_suffix('+').unwrap_or(name);
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        format!("<{name}>")
    }

    fn texts(commands: Vec<Vec<Word>>) -> Vec<Vec<String>> {
        commands
            .into_iter()
            .map(|c| {
                c.into_iter()
                    .map(|w| w.text().map_or("@LIST".to_owned(), str::to_owned))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn finds_every_command_as_the_shell_splits_it() {
        let script = r#"
set +e
pai-provision plan "$MANIFEST" --out plan.json \
  --format markdown --detailed-exitcode > plan.md 2>&1 || code=$?
code=$(pai-provision fleet status 'fleet/fleet.toml' --format json | jq -r .x)  # a comment
if [ -z "$mr" ]; then echo "no \"plan\""; exit 1; fi
for name in $CANARIES; do set -- "$@" --account "$name"; done
diff <(sort a) b
"$HOME/.local/pai-provision/bin/pai-provision" --version
"#;
        assert_eq!(
            texts(commands(script, &sample)),
            [
                vec!["set", "+e"],
                vec![
                    "pai-provision",
                    "plan",
                    "<MANIFEST>",
                    "--out",
                    "plan.json",
                    "--format",
                    "markdown",
                    "--detailed-exitcode"
                ],
                vec![
                    "pai-provision",
                    "fleet",
                    "status",
                    "fleet/fleet.toml",
                    "--format",
                    "json"
                ],
                vec!["jq", "-r", ".x"],
                vec!["[", "-z", "<mr>", "]"],
                vec!["echo", "no \"plan\""],
                vec!["exit", "1"],
                vec!["for", "name", "in", "<CANARIES>"],
                vec!["set", "--", "@LIST", "--account", "<name>"],
                vec!["sort", "a"],
                vec!["diff", "b"],
                vec!["<HOME>/.local/pai-provision/bin/pai-provision", "--version"],
            ]
        );
    }

    #[test]
    fn invocations_are_found_by_name_not_as_arguments() {
        let script = "cargo install --root x pai-provision\n\
                      ./bin/pai-provision show plan.json\n\
                      echo pai-provision\n\
                      X=1 pai-provision --version";
        assert_eq!(
            texts(invocations(script, "pai-provision", &sample)),
            [vec!["show", "plan.json"], vec!["--version"]]
        );
    }

    #[test]
    fn list_expansions_are_marked() {
        let found = invocations(
            r#"pai-provision fleet plan "$FLEET" "${selection[@]}" --shard "${I}/4""#,
            "pai-provision",
            &sample,
        );
        assert_eq!(
            found,
            [vec![
                Word::Text("fleet".into()),
                Word::Text("plan".into()),
                Word::Text("<FLEET>".into()),
                Word::List,
                Word::Text("--shard".into()),
                Word::Text("<I>/4".into()),
            ]]
        );
    }
}
