//! Skills: named markdown documents of instructions that the in-sandbox agent follows.
//! A project's skill applies to every job of that project's tasks; a user's own skill
//! applies when one of its trigger words is in the job's prompt (or always, when it has
//! none). What applies is chosen within a size budget, project skills first.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{ProjectId, UserId};
pub use crate::limits::MAX_SKILL_BYTES;
use crate::task::normalize_name;
use crate::wire::{SkillText, SkillView};
use crate::ErrorCode;
/// Most skill text one job carries.
pub const SKILLS_BUDGET_BYTES: usize = 16 * 1024;
pub const MAX_TRIGGERS: usize = 16;
const MAX_TRIGGER_CHARS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    pub owner: UserId,
    /// Lowercase words joined by dashes, unique per owner.
    pub name: String,
    pub body: String,
    /// Lowercase words.
    pub triggers: Vec<String>,
    pub project: Option<ProjectId>,
    pub updated_at: Timestamp,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::validation(ErrorCode::InvalidSkill, message)
}

impl Skill {
    /// A skill from a request's parts, checked: a name, a non-empty body within
    /// [`MAX_SKILL_BYTES`], at most [`MAX_TRIGGERS`] trigger words.
    pub fn new(
        owner: &UserId,
        name: &str,
        body: String,
        triggers: &[String],
        project: Option<ProjectId>,
        now: Timestamp,
    ) -> Result<Self> {
        let name = normalize_name(name, ErrorCode::InvalidSkill, "name")?;
        if body.trim().is_empty() {
            return Err(invalid("body must not be empty"));
        }
        if body.len() > MAX_SKILL_BYTES {
            return Err(invalid(format!(
                "body is {} bytes; a skill holds at most {MAX_SKILL_BYTES}",
                body.len()
            )));
        }
        if triggers.len() > MAX_TRIGGERS {
            return Err(invalid(format!(
                "a skill has at most {MAX_TRIGGERS} trigger words"
            )));
        }
        let mut words = Vec::with_capacity(triggers.len());
        for trigger in triggers {
            let word = trigger.trim().to_lowercase();
            if word.is_empty()
                || word.chars().count() > MAX_TRIGGER_CHARS
                || !word
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(format!(
                    "trigger '{}' must be one word of letters, digits, - or _ (at most {MAX_TRIGGER_CHARS})",
                    trigger.chars().take(40).collect::<String>()
                )));
            }
            if !words.contains(&word) {
                words.push(word);
            }
        }
        Ok(Self {
            owner: owner.clone(),
            name,
            body,
            triggers: words,
            project,
            updated_at: now,
        })
    }

    pub fn view(&self, with_body: bool) -> SkillView {
        SkillView {
            name: self.name.clone(),
            triggers: self.triggers.clone(),
            project_id: self.project.as_ref().map(ToString::to_string),
            size: self.body.len() as u64,
            body: with_body.then(|| self.body.clone()),
            updated_at: self.updated_at,
        }
    }

    /// Whether this skill applies to a job of a task in `project` with `prompt`.
    fn applies(&self, prompt: &str, project: Option<&ProjectId>) -> bool {
        match &self.project {
            Some(own) => project == Some(own),
            None if self.triggers.is_empty() => true,
            None => {
                let words: Vec<String> = prompt
                    .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
                    .filter(|word| !word.is_empty())
                    .map(str::to_lowercase)
                    .collect();
                self.triggers.iter().any(|trigger| words.contains(trigger))
            }
        }
    }
}

/// The skills of `skills` that apply to a job of a task in `project` with `prompt`:
/// project skills first, then the user's, each group by name, as many as fit in
/// [`SKILLS_BUDGET_BYTES`] (one that does not fit is left out, a smaller one after it
/// may still fit).
pub fn skills_for(skills: &[Skill], prompt: &str, project: Option<&ProjectId>) -> Vec<SkillText> {
    let mut applying: Vec<&Skill> = skills
        .iter()
        .filter(|skill| skill.applies(prompt, project))
        .collect();
    applying.sort_by(|a, b| (a.project.is_none(), &a.name).cmp(&(b.project.is_none(), &b.name)));
    let mut left = SKILLS_BUDGET_BYTES;
    let mut chosen = Vec::new();
    for skill in applying {
        if skill.body.len() <= left {
            left -= skill.body.len();
            chosen.push(SkillText {
                name: skill.name.clone(),
                body: skill.body.clone(),
            });
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(name: &str, body: &str, triggers: &[&str], project: Option<&ProjectId>) -> Skill {
        let triggers: Vec<String> = triggers.iter().map(|t| t.to_string()).collect();
        Skill::new(
            &UserId::generate(),
            name,
            body.into(),
            &triggers,
            project.cloned(),
            Timestamp::UNIX_EPOCH,
        )
        .unwrap()
    }

    fn names(chosen: &[SkillText]) -> Vec<&str> {
        chosen.iter().map(|skill| skill.name.as_str()).collect()
    }

    #[test]
    fn project_skills_always_user_skills_by_trigger_word_within_the_budget() {
        let project = ProjectId::generate();
        let other = ProjectId::generate();
        let skills = vec![
            skill("Rust Style", "use clippy", &["Rust", "cargo"], None),
            skill("docs", "write docs", &["readme"], None),
            skill("always", "be brief", &[], None),
            skill("house", "run make check", &[], Some(&project)),
            skill("elsewhere", "nope", &[], Some(&other)),
            skill("huge", &"x".repeat(SKILLS_BUDGET_BYTES), &[], None),
        ];
        let chosen = skills_for(&skills, "Fix the CARGO build, please.", Some(&project));
        assert_eq!(names(&chosen), ["house", "always", "rust-style"]);
        let chosen = skills_for(&skills, "cargo-culting is no trigger", None);
        assert_eq!(names(&chosen), ["always"]);
        let total: usize = chosen.iter().map(|s| s.body.len()).sum();
        assert!(total <= SKILLS_BUDGET_BYTES);
    }

    #[test]
    fn bad_skills_are_refused() {
        let owner = UserId::generate();
        let now = Timestamp::UNIX_EPOCH;
        for (name, body, triggers) in [
            ("!!!", "x", vec![]),
            ("ok", "  ", vec![]),
            ("ok", &"x".repeat(MAX_SKILL_BYTES + 1) as &str, vec![]),
            ("ok", "x", vec!["two words".to_owned()]),
            ("ok", "x", vec!["w".to_owned(); MAX_TRIGGERS + 1]),
        ] {
            let err = Skill::new(&owner, name, body.to_owned(), &triggers, None, now).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidSkill, "{name} {triggers:?}");
        }
        let skill = Skill::new(
            &owner,
            "My Skill",
            "x".into(),
            &["A".into(), "a".into()],
            None,
            now,
        )
        .unwrap();
        assert_eq!(
            (skill.name.as_str(), skill.triggers.clone()),
            ("my-skill", vec!["a".to_owned()])
        );
    }
}
