auto_auth {
  method "approle" {
    wrap_ttl = "2m"
    config {
      role_id_file_path   = "/etc/vault/roleid"
      secret_id_file_path = "/etc/vault/secretid"
    }
  }
  sink "file" {
    wrap_ttl = "1m"
    config { path = "/var/run/vault/token" }
  }
}
