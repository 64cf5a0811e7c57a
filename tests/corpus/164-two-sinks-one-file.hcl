auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "/etc/vault/roleid"
      secret_id_file_path = "/etc/vault/secretid"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
