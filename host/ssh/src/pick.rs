//! Choosing one asset when a direct-connect name (`user@account@<target>`) in a terminal
//! session matches several permitted assets (two hosts sharing an address, say). KoKo then
//! shows a table and lets the user pick by number; an exec request without a terminal is
//! refused instead, since nobody can answer.
//!
//! The picker is a small state machine over the matches, independent of I/O: the gateway feeds
//! it typed lines and writes what it answers. Rows are numbered across pages, so a number seen
//! on any page picks that row; `n` (or Enter) and `b` page, `q`, `quit` or `exit` leave.

use crate::menu::{AssetItem, clean, render_table_firm};
use uuid::Uuid;

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// The prompt of the table.
pub const PROMPT: &str = "Opt> ";

/// What the user's line leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// Write this (it ends with the prompt) and wait for the next line.
    Show(String),
    /// Connect to this asset.
    Chosen(Uuid),
    /// The user left.
    Leave,
}

/// The matches of one target and the page on screen.
#[derive(Debug, Clone)]
pub struct AssetPicker {
    target: String,
    assets: Vec<AssetItem>,
    page: usize,
    page_size: usize,
    cols: usize,
}

impl AssetPicker {
    /// A picker over `assets` (in the order shown); `rows` and `cols` are the terminal's size,
    /// a page holding `rows - 8` rows (at least 1) as the menu's lists do.
    pub fn new(target: &str, assets: Vec<AssetItem>, cols: u16, rows: u16) -> AssetPicker {
        AssetPicker {
            target: target.to_owned(),
            assets,
            page: 0,
            page_size: usize::from(rows).saturating_sub(8).max(1),
            cols: usize::from(cols).max(20),
        }
    }

    /// Follows a window change (the current page is kept in range).
    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.cols = usize::from(cols).max(20);
        self.page_size = usize::from(rows).saturating_sub(8).max(1);
        self.page = self.page.min(self.last_page());
    }

    fn last_page(&self) -> usize {
        self.assets.len().saturating_sub(1) / self.page_size
    }

    /// The current page: header, table, tips and the prompt.
    pub fn render(&self) -> String {
        let start = self.page * self.page_size;
        let rows: Vec<Vec<String>> = self
            .assets
            .iter()
            .enumerate()
            .skip(start)
            .take(self.page_size)
            .map(|(i, a)| {
                vec![
                    (i + 1).to_string(),
                    clean(&a.name).replace(' ', "_"),
                    clean(&a.address),
                    clean(&a.platform),
                    clean(&one_line(&a.comment)),
                ]
            })
            .collect();
        let mut out = format!(
            "{GREEN}{} assets match {}; select the one to log in to.{RESET}\r\n",
            self.assets.len(),
            clean(&self.target)
        );
        out.push_str(&format!(
            "{GREEN}Page: {}, Count: {}, Total Page: {}, Total Count: {}{RESET}\r\n",
            self.page + 1,
            rows.len(),
            self.last_page() + 1,
            self.assets.len()
        ));
        out.push_str(&render_table_firm(
            &["ID", "Name", "Address", "Platform", "Comment"],
            &rows,
            self.cols,
            &[2],
        ));
        out.push_str(&format!(
            "{GREEN}Enter an ID to log in. Previous page: b, next page: n, leave: q{RESET}\r\n"
        ));
        out.push_str(PROMPT);
        out
    }

    /// One typed line.
    pub fn line(&mut self, line: &str) -> Pick {
        let word = line.trim().to_ascii_lowercase();
        match word.as_str() {
            "q" | "quit" | "exit" => return Pick::Leave,
            "" | "n" => {
                self.page = (self.page + 1).min(self.last_page());
                return Pick::Show(self.render());
            }
            "b" => {
                self.page = self.page.saturating_sub(1);
                return Pick::Show(self.render());
            }
            _ => {}
        }
        match word.parse::<usize>() {
            Ok(n) if (1..=self.assets.len()).contains(&n) => Pick::Chosen(self.assets[n - 1].id),
            _ => Pick::Show(format!(
                "{RED}No row {}; enter an ID from the table{RESET}\r\n{PROMPT}",
                clean(line.trim())
            )),
        }
    }
}

/// Multi-line comments on one row, lines joined with `|`.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(i: usize) -> AssetItem {
        AssetItem {
            id: Uuid::new_v4(),
            name: format!("web {i}"),
            address: "10.0.0.9".into(),
            platform: "Linux".into(),
            org_name: "Default".into(),
            comment: format!("rack {i}\nrow 2"),
            category: "host".into(),
            type_: "linux".into(),
            protocols: vec!["ssh".into()],
            is_active: true,
        }
    }

    fn plain(s: &str) -> String {
        let mut out = String::new();
        let mut esc = false;
        for c in s.chars() {
            match (esc, c) {
                (false, '\x1b') => esc = true,
                (true, 'm') => esc = false,
                (true, _) => {}
                (false, c) => out.push(c),
            }
        }
        out
    }

    #[test]
    fn pages_numbers_and_leaves() {
        let assets: Vec<AssetItem> = (1..=5).map(asset).collect();
        let ids: Vec<Uuid> = assets.iter().map(|a| a.id).collect();
        // 10 rows: 2 per page.
        let mut p = AssetPicker::new("10.0.0.9", assets, 100, 10);
        let first = plain(&p.render());
        assert!(first.contains("5 assets match 10.0.0.9"), "{first}");
        assert!(first.contains("Page: 1, Count: 2, Total Page: 3, Total Count: 5"));
        assert!(first.contains("web_1") && first.contains("web_2") && !first.contains("web_3"));
        assert!(first.contains("rack 1|row 2"), "{first}");
        assert!(first.contains("Platform") && first.ends_with(PROMPT));
        let Pick::Show(second) = p.line("n") else {
            panic!()
        };
        assert!(plain(&second).contains("Page: 2,") && second.contains("web_3"));
        // Enter pages too, and the last page stays put.
        p.line("");
        let Pick::Show(last) = p.line("") else {
            panic!()
        };
        assert!(plain(&last).contains("Page: 3, Count: 1,"), "{last}");
        let Pick::Show(back) = p.line("b") else {
            panic!()
        };
        assert!(plain(&back).contains("Page: 2,"));
        // Numbers count across pages.
        assert_eq!(p.line(" 1 "), Pick::Chosen(ids[0]));
        assert_eq!(p.line("5"), Pick::Chosen(ids[4]));
        for bad in ["0", "6", "web", "-1"] {
            let Pick::Show(msg) = p.line(bad) else {
                panic!("{bad}")
            };
            assert!(plain(&msg).starts_with("No row"), "{msg}");
        }
        for q in ["q", "QUIT", "exit"] {
            assert_eq!(p.line(q), Pick::Leave);
        }
        // A taller window shows everything on one page.
        p.resize(100, 40);
        assert!(plain(&p.render()).contains("Page: 1, Count: 5, Total Page: 1"));
    }
}
