# The "jwt" auth method: every key. The keys outside `config` (min_backoff, max_backoff,
# exit_on_err, namespace) are described in config/agent.hcl.
#
# The JWT is read from a file and sent to <mount_path>/login as {"role", "jwt"}. The file is
# watched: a new JWT in it leads to a fresh login at once. Vault Agent's `jwt_read_period`
# (how often it polls the file) is refused, since vaultward does not poll.
exit_after_auth = true

auto_auth {
  method "jwt" {
    # Where the JWT auth method is mounted.
    # Default: "auth/jwt".
    mount_path = "auth/jwt"

    config {
      # The file holding the JWT. Read on every login and trimmed; the last good JWT is kept
      # in memory for later logins, so the file may be removed after the first one. Required.
      path = "/var/run/secrets/vault/jwt"

      # The role of the JWT auth mount to log in with. Required.
      role = "web"

      # Delete the JWT file after a successful login with it (vaultward deletes it only after
      # the login succeeded). Set it to false when something else rotates the file in place.
      # Default: true.
      remove_jwt_after_reading = true

      # When `path` is a symbolic link, delete the file it points to instead of the link.
      # Default: false.
      remove_jwt_follows_symlinks = false
    }
  }
  sink "file" {
    config { path = "/run/vaultward/token" }
  }
}
