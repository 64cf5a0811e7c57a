# The "token_file" auth method: every key. The keys outside `config` (min_backoff,
# max_backoff, exit_on_err, namespace) are described in config/agent.hcl.
#
# A token made elsewhere (`bao token create`, a CI system) is read from a file. There is no
# login call: the token is checked with auth/token/lookup-self, which also tells its TTL, and
# is then renewed like a login's token. When it can no longer be renewed (max TTL), the file
# is read again, so whoever wrote the first token should write the next one before then; a
# new token in the file reaches the sinks at once. The file is never removed.
exit_after_auth = true

auto_auth {
  method "token_file" {
    # No mount_path: the token is always checked at auth/token (setting it is an error).
    config {
      # The file holding the token. Read on every login and trimmed (a trailing newline is
      # fine); the last good token is kept when the file is gone or empty. Required.
      token_file_path = "/etc/vault/token"
    }
  }
  sink "file" {
    config { path = "/run/vaultward/token" }
  }
}
