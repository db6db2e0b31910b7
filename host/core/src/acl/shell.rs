//! A shell-word normaliser for command filtering.
//!
//! Shells let the same word be spelled many ways: `rm`, `r""m`, `r''m`, `\rm`, `"rm"`,
//! `'r'"m"`, `$'rm'`. JumpServer's filter matched only the literal text, so these spellings
//! bypassed a `rm` rule. [`normalize_command_line`] removes the quoting that does not change
//! the word, so the command filter can match the result as well as the raw line.
//!
//! "Does not change the word" means: a quoted part whose content is only ordinary word
//! characters (no whitespace, no shell metacharacters, no backslashes) is replaced by its
//! content, and a backslash before an ordinary character is dropped. Quoted parts with
//! whitespace or metacharacters (`"a; b"`) are kept verbatim, because unquoting them would
//! invent separators the shell would not see. A backslash-newline (line continuation) is
//! removed.

/// Characters that end or change a shell word when unquoted.
fn is_special(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ';' | '&'
                | '|'
                | '('
                | ')'
                | '<'
                | '>'
                | '`'
                | '$'
                | '\\'
                | '"'
                | '\''
                | '*'
                | '?'
                | '['
                | ']'
                | '{'
                | '}'
                | '#'
                | '~'
                | '!'
        )
}

fn is_plain(s: &str) -> bool {
    !s.chars().any(is_special)
}

/// Finds the end of a quoted part starting after the opening quote at `chars[start]`:
/// returns the index of the closing quote. In double quotes and `$'…'`, a backslash escapes
/// the next character, so `\"` does not close.
fn closing(chars: &[char], start: usize, quote: char, backslash_escapes: bool) -> Option<usize> {
    let mut i = start;
    while let Some(&c) = chars.get(i) {
        if backslash_escapes && c == '\\' {
            i += 2;
            continue;
        }
        if c == quote {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Removes quoting and escapes that do not change the shell words of `line`.
///
/// Examples: `r""m -rf /` → `rm -rf /`; `\rm x` → `rm x`; `"rm" x` → `rm x`;
/// `echo "a; b"` is unchanged. Unbalanced quotes leave the rest of the line verbatim.
pub fn normalize_command_line(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => match chars.get(i + 1) {
                Some('\n') => i += 2,
                Some(&n) if !is_special(n) => {
                    out.push(n);
                    i += 2;
                }
                Some(&n) => {
                    out.push('\\');
                    out.push(n);
                    i += 2;
                }
                None => {
                    out.push('\\');
                    i += 1;
                }
            },
            '\'' | '"' => {
                let escapes = c == '"';
                match closing(&chars, i + 1, c, escapes) {
                    Some(end) => {
                        let content: String = chars[i + 1..end].iter().collect();
                        if is_plain(&content) {
                            out.push_str(&content);
                        } else {
                            out.push(c);
                            out.push_str(&content);
                            out.push(c);
                        }
                        i = end + 1;
                    }
                    None => {
                        out.extend(&chars[i..]);
                        i = chars.len();
                    }
                }
            }
            '$' if chars.get(i + 1) == Some(&'\'') => match closing(&chars, i + 2, '\'', true) {
                Some(end) => {
                    let content: String = chars[i + 2..end].iter().collect();
                    if is_plain(&content) {
                        out.push_str(&content);
                    } else {
                        out.push_str("$'");
                        out.push_str(&content);
                        out.push('\'');
                    }
                    i = end + 1;
                }
                None => {
                    out.extend(&chars[i..]);
                    i = chars.len();
                }
            },
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normaliser_removes_word_preserving_quoting() {
        let cases = [
            ("rm -rf /", "rm -rf /"),
            (r#"r""m -rf /"#, "rm -rf /"),
            ("r''m -rf /", "rm -rf /"),
            (r"\rm -rf /", "rm -rf /"),
            (r"r\m", "rm"),
            (r#""rm" -rf"#, "rm -rf"),
            (r#"'r'"m""#, "rm"),
            ("$'rm' x", "rm x"),
            ("rm \\\n-rf", "rm -rf"),
            (r#"echo "a; rm -rf /""#, r#"echo "a; rm -rf /""#),
            ("echo 'a b'", "echo 'a b'"),
            (r"echo a\;b", r"echo a\;b"),
            (r#"echo "x\"y""#, r#"echo "x\"y""#),
            (r#"echo "unbalanced"#, r#"echo "unbalanced"#),
            ("trailing\\", "trailing\\"),
            ("ünïcödé 'ok'", "ünïcödé ok"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_command_line(input), want, "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn prop_normaliser_undoes_empty_quotes_and_escapes(
            word in "[a-z][a-z0-9_.-]{0,10}",
            at in any::<prop::sample::Index>(),
            kind in 0u8..4,
        ) {
            let k = at.index(word.len() + 1);
            let (a, b) = word.split_at(k);
            let disguised = match kind {
                0 => format!("{a}\"\"{b}"),
                1 => format!("{a}''{b}"),
                2 => format!("\"{a}\"{b}"),
                _ => match b.chars().next() {
                    Some(_) => format!("{a}\\{b}"),
                    None => format!("'{a}'"),
                },
            };
            prop_assert_eq!(normalize_command_line(&disguised), word);
        }

        #[test]
        fn prop_normaliser_keeps_plain_lines(line in "[a-z0-9 ;|&/=.-]{0,30}") {
            prop_assert_eq!(normalize_command_line(&line), line);
        }
    }
}
