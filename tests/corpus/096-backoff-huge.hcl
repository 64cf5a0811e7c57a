auto_auth {
  method "approle" {
    max_backoff = "18446744073709551615"
    config {
      role_id_file_path   = "/etc/vault/roleid"
      secret_id_file_path = "/etc/vault/secretid"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
