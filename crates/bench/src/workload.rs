//! The workload every client runs: `templates` templates over `secrets` KV v2 secrets.
//!
//! Secret `j` lives at `secret/<prefix>/s<j>` (API path `secret/data/<prefix>/s<j>`) and holds
//! `user` and `password`. Template `i` reads secret `i % secrets` and renders
//! `user=…\npassword=…\n` to `t<i>.txt` in the destination directory. Both agents get the
//! same Go (consul-template) template text by default; vaultward can be given the same template
//! in its Handlebars syntax instead (`--vaultward-syntax handlebars`). Every text renders
//! exactly that, and so does the floor client, so the benchmark can check every file after
//! every run.

use std::path::{Path, PathBuf};

/// The KV v2 mount of the dev server.
pub const MOUNT: &str = "secret";

/// The shape of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// How many templates (destination files).
    pub templates: usize,
    /// How many distinct secrets they read.
    pub secrets: usize,
}

impl Shape {
    /// Which secret template `index` reads.
    pub fn secret_of(&self, index: usize) -> usize {
        index % self.secrets.max(1)
    }
}

/// The KV path of secret `j` under the mount (`bench/s3`).
pub fn kv_path(prefix: &str, j: usize) -> String {
    format!("{prefix}/s{j}")
}

/// The API path a KV v2 read of secret `j` uses (`secret/data/bench/s3`).
pub fn read_path(prefix: &str, j: usize) -> String {
    format!("{MOUNT}/data/{}", kv_path(prefix, j))
}

/// The destination file of template `index`.
pub fn destination(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("t{index:04}.txt"))
}

/// What a template renders for a secret holding `user` and `password`.
pub fn render(user: &str, password: &str) -> String {
    format!("user={user}\npassword={password}\n")
}

/// A template language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// consul-template's Go templates, which both agents read.
    Go,
    /// vaultward's Handlebars templates.
    Handlebars,
}

/// The template of secret `read_path` in `syntax`.
pub fn template(syntax: Syntax, read_path: &str) -> String {
    match syntax {
        Syntax::Go => go_template(read_path),
        Syntax::Handlebars => handlebars_template(read_path),
    }
}

/// A comment that makes template `index`'s text differ from every other template's without
/// changing what it renders (`--distinct-texts`): agents that share one compiled template
/// among templates of the same text (consul-template's runner, vaultward) then compile and
/// keep every template apart.
pub fn distinct_suffix(syntax: Syntax, index: usize) -> String {
    match syntax {
        Syntax::Go => format!("{{{{/* t{index} */}}}}"),
        Syntax::Handlebars => format!("{{{{!-- t{index} --}}}}"),
    }
}

/// The template in vaultward's Handlebars syntax.
pub fn handlebars_template(read_path: &str) -> String {
    format!(
        "{{{{#with (secret \"{read_path}\")}}}}user={{{{data.data.user}}}}\npassword={{{{data.data.password}}}}\n{{{{/with}}}}"
    )
}

/// The template in Go template syntax, which both agents read.
pub fn go_template(read_path: &str) -> String {
    format!(
        "{{{{ with secret \"{read_path}\" }}}}user={{{{ .Data.data.user }}}}\npassword={{{{ .Data.data.password }}}}\n{{{{ end }}}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_read_the_same_path() {
        assert_eq!(
            handlebars_template("secret/data/b/s1"),
            "{{#with (secret \"secret/data/b/s1\")}}user={{data.data.user}}\npassword={{data.data.password}}\n{{/with}}"
        );
        assert_eq!(
            go_template("secret/data/b/s1"),
            "{{ with secret \"secret/data/b/s1\" }}user={{ .Data.data.user }}\npassword={{ .Data.data.password }}\n{{ end }}"
        );
        let shape = Shape {
            templates: 100,
            secrets: 20,
        };
        assert_eq!(shape.secret_of(45), 5);
        assert_eq!(distinct_suffix(Syntax::Go, 7), "{{/* t7 */}}");
        assert_eq!(distinct_suffix(Syntax::Handlebars, 7), "{{!-- t7 --}}");
    }
}
