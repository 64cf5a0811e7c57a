//! User and group names to ids, from the system's databases (`/etc/passwd`, `/etc/group`).
//!
//! Used for the owner of token sinks and template destinations (`user = "nginx"`). Only the
//! local files are read; a name that is not there is reported, never guessed.

use std::path::Path;

/// The id of user `name`, from `/etc/passwd`.
pub fn user_id(name: &str) -> Option<u32> {
    id_in(Path::new("/etc/passwd"), name)
}

/// The id of group `name`, from `/etc/group`.
pub fn group_id(name: &str) -> Option<u32> {
    id_in(Path::new("/etc/group"), name)
}

/// The third field of the line whose first field is `name` (`name:x:id:…`).
fn id_in(database: &Path, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(database).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name)
            .then(|| fields.nth(1)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_zero_and_strangers_are_unknown() {
        assert_eq!(user_id("root"), Some(0));
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(user_id("no-such-user-here"), None);
    }
}
