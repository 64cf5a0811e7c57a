auto_auth {
  method "approle" {
    min_backoff = "10m"
    max_backoff = "1m"
    config {
      role_id_file_path   = "/etc/vault/roleid"
      secret_id_file_path = "/etc/vault/secretid"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
