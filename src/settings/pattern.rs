//! The Codex model pattern: comma-separated, case-insensitive globs (`*` = any run of
//! characters, `?` = one character); a model is Codex when any glob matches its whole name.

use wildmatch::WildMatch;

/// The pattern as the admin typed it, and its globs.
#[derive(Clone, Debug)]
pub struct ModelPattern {
    source: String,
    globs: Vec<WildMatch>,
}

impl PartialEq for ModelPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl ModelPattern {
    /// Parse `source`; the message says what is wrong.
    pub fn parse(source: &str) -> Result<ModelPattern, String> {
        let pieces: Vec<&str> = source
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .collect();
        if pieces.is_empty() {
            return Err("Give at least one model name pattern, e.g. *codex*.".into());
        }
        if let Some(bad) = pieces
            .iter()
            .find(|g| !g.bytes().all(|b| b.is_ascii_graphic() && b != b'|'))
        {
            return Err(format!(
                "Pattern \"{}\" may only use printable ASCII letters, digits, punctuation, * and ?.",
                bad.escape_debug()
            ));
        }
        Ok(ModelPattern {
            source: source.trim().to_string(),
            globs: pieces
                .iter()
                .map(|g| WildMatch::new_case_insensitive(g))
                .collect(),
        })
    }

    /// The default, `*codex*`.
    pub fn default_codex() -> ModelPattern {
        ModelPattern {
            source: super::DEFAULT_MODEL_PATTERN.into(),
            globs: vec![WildMatch::new_case_insensitive(
                super::DEFAULT_MODEL_PATTERN,
            )],
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, model: &str) -> bool {
        self.globs.iter().any(|g| g.matches(model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching() {
        let p = ModelPattern::parse("*codex*, gpt-5.4").unwrap();
        assert!(p.matches("GPT-5-Codex"));
        assert!(p.matches("gpt-5.4"));
        assert!(!p.matches("gpt-5.4-mini"));
        assert!(!p.matches("gpt-5.1"));
        let q = ModelPattern::parse("gpt-?-codex").unwrap();
        assert!(q.matches("gpt-5-codex") && !q.matches("gpt-55-codex"));
        // a pathological pattern stays fast (no exponential backtracking)
        let r = ModelPattern::parse("*a*a*a*a*a*a*a*b").unwrap();
        assert!(!r.matches(&"a".repeat(10_000)));
        assert_eq!(
            ModelPattern::default_codex(),
            ModelPattern::parse("*codex*").unwrap()
        );
        assert!(ModelPattern::default_codex().matches("gpt-5.1-codex-max"));
        assert!(!ModelPattern::default_codex().matches("gpt-5.4"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["", " , ,", "co\u{1}dex", "gpt 5", "a|b", "ç*"] {
            assert!(ModelPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
