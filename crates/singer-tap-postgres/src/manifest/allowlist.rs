//! The internal-only allow lists (data minimisation): local CSV files of
//! GitLab's internal projects (`project_path,project_id`) and namespaces
//! (`namespace_path,namespace_id`), never fetched at run time.
//!
//! Rendering, where upstream's Python tuples went wrong: ids are integers,
//! paths are SQL string literals with `'` doubled, a one-item list is
//! `(x)`, and an empty list is `(NULL)`, which matches nothing (`x IN
//! (NULL)` is never true) and keeps the SQL valid.

use std::path::{Path, PathBuf};

/// Why an allow-list file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AllowListError {
    /// The file cannot be read.
    #[error("allow list {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file's content is unusable.
    #[error("allow list {}, line {line}: {reason}", path.display())]
    Content {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// One allow list: paths and ids, in file order, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// `*_path` values.
    pub paths: Vec<String>,
    /// `*_id` values.
    pub ids: Vec<i64>,
}

/// The project and namespace allow lists; `None` when not configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowLists {
    /// From the projects file (`project_path,project_id`).
    pub projects: Option<AllowList>,
    /// From the namespaces file (`namespace_path,namespace_id`).
    pub namespaces: Option<AllowList>,
}

impl AllowLists {
    /// Reads the files that are configured.
    ///
    /// # Errors
    ///
    /// [`AllowListError`] naming the file and line.
    pub fn load(
        projects: Option<&Path>,
        namespaces: Option<&Path>,
    ) -> Result<Self, AllowListError> {
        Ok(Self {
            projects: projects
                .map(|p| AllowList::read(p, "project"))
                .transpose()?,
            namespaces: namespaces
                .map(|p| AllowList::read(p, "namespace"))
                .transpose()?,
        })
    }

    /// The SQL list for an `INTERNAL_*` token, or `None` when the file it
    /// needs is not configured (or the token is not an allow-list token).
    /// `INTERNAL_PATHS` is the namespace paths then the project paths and
    /// needs both files.
    #[must_use]
    pub fn token_value(&self, token: &str) -> Option<String> {
        match token {
            "INTERNAL_PROJECT_IDS" => self.projects.as_ref().map(|l| id_list(&l.ids)),
            "INTERNAL_NAMESPACE_IDS" => self.namespaces.as_ref().map(|l| id_list(&l.ids)),
            "INTERNAL_PROJECT_PATHS" => self.projects.as_ref().map(|l| path_list(&l.paths)),
            "INTERNAL_NAMESPACE_PATHS" => self.namespaces.as_ref().map(|l| path_list(&l.paths)),
            "INTERNAL_PATHS" => {
                let (namespaces, projects) = (self.namespaces.as_ref()?, self.projects.as_ref()?);
                let mut all = namespaces.paths.clone();
                for path in &projects.paths {
                    if !all.contains(path) {
                        all.push(path.clone());
                    }
                }
                Some(path_list(&all))
            }
            _ => None,
        }
    }
}

impl AllowList {
    /// Reads `<prefix>_path,<prefix>_id` from a CSV file with a header
    /// (columns in any order, extra columns ignored, RFC 4180 quoting).
    ///
    /// # Errors
    ///
    /// [`AllowListError`] naming the file and line.
    pub fn read(path: &Path, prefix: &str) -> Result<Self, AllowListError> {
        let text = std::fs::read_to_string(path).map_err(|source| AllowListError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, prefix).map_err(|(line, reason)| AllowListError::Content {
            path: path.to_owned(),
            line,
            reason,
        })
    }

    /// Parses the CSV text; the error is `(line, reason)`.
    fn parse(text: &str, prefix: &str) -> Result<Self, (usize, String)> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Ok(Self::default());
        };
        let header = split_csv(header).map_err(|reason| (1, reason))?;
        let find = |name: String| {
            header
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| (1, format!("no `{name}` column in the header")))
        };
        let path_at = find(format!("{prefix}_path"))?;
        let id_at = find(format!("{prefix}_id"))?;
        let mut list = Self::default();
        for (index, line) in lines {
            let number = index + 1;
            let fields = split_csv(line).map_err(|reason| (number, reason))?;
            let field = |at: usize, name: &str| {
                fields
                    .get(at)
                    .map(|f| f.trim().to_owned())
                    .ok_or_else(|| (number, format!("no `{prefix}_{name}` value")))
            };
            let path = field(path_at, "path")?;
            let id_text = field(id_at, "id")?;
            let id: i64 = id_text.parse().map_err(|_| {
                (
                    number,
                    format!("`{prefix}_id` {id_text:?} is not an integer"),
                )
            })?;
            if path.contains('\0') {
                return Err((number, format!("`{prefix}_path` contains a NUL character")));
            }
            if !list.ids.contains(&id) {
                list.ids.push(id);
            }
            if !path.is_empty() && !list.paths.contains(&path) {
                list.paths.push(path);
            }
        }
        Ok(list)
    }
}

/// Splits one CSV line (RFC 4180 quotes; `""` inside quotes is `"`).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".to_owned());
    }
    fields.push(field);
    Ok(fields)
}

fn id_list(ids: &[i64]) -> String {
    if ids.is_empty() {
        return "(NULL)".to_owned();
    }
    let items: Vec<String> = ids.iter().map(ToString::to_string).collect();
    format!("({})", items.join(", "))
}

fn path_list(paths: &[String]) -> String {
    if paths.is_empty() {
        return "(NULL)".to_owned();
    }
    let items: Vec<String> = paths
        .iter()
        .map(|p| format!("'{}'", p.replace('\'', "''")))
        .collect();
    format!("({})", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_render_as_valid_sql_for_zero_one_and_many() {
        let empty = AllowList::parse("project_path,project_id\n", "project").expect("valid");
        let one = AllowList::parse(
            "project_path,project_id\ngitlab-org/gitlab,278964\n",
            "project",
        )
        .expect("valid");
        let many = AllowList::parse(
            "project_id,project_path,extra\n1,\"a/it's\",x\n2,\"b/\"\"q\"\"\",y\n1,\"a/it's\",z\n",
            "project",
        )
        .expect("valid");
        let lists = |l: AllowList| AllowLists {
            projects: Some(l),
            namespaces: None,
        };
        assert_eq!(
            lists(empty.clone())
                .token_value("INTERNAL_PROJECT_IDS")
                .as_deref(),
            Some("(NULL)")
        );
        assert_eq!(
            lists(empty)
                .token_value("INTERNAL_PROJECT_PATHS")
                .as_deref(),
            Some("(NULL)")
        );
        assert_eq!(
            lists(one.clone())
                .token_value("INTERNAL_PROJECT_IDS")
                .as_deref(),
            Some("(278964)")
        );
        assert_eq!(
            lists(one).token_value("INTERNAL_PROJECT_PATHS").as_deref(),
            Some("('gitlab-org/gitlab')")
        );
        assert_eq!(
            lists(many.clone())
                .token_value("INTERNAL_PROJECT_IDS")
                .as_deref(),
            Some("(1, 2)")
        );
        assert_eq!(
            lists(many.clone())
                .token_value("INTERNAL_PROJECT_PATHS")
                .as_deref(),
            Some("('a/it''s', 'b/\"q\"')")
        );
        // INTERNAL_PATHS needs both files; namespaces missing here.
        assert_eq!(lists(many).token_value("INTERNAL_PATHS"), None);
    }

    #[test]
    fn bad_files_name_the_line() {
        assert_eq!(
            AllowList::parse("namespace_path,namespace_id\ngitlab-org,abc\n", "namespace"),
            Err((2, "`namespace_id` \"abc\" is not an integer".to_owned()))
        );
        assert_eq!(
            AllowList::parse("path,id\n", "project"),
            Err((1, "no `project_path` column in the header".to_owned()))
        );
    }
}
