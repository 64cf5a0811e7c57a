auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "/etc/vault/roleid"
      secret_id_file_paht = "/etc/vault/secretid"
    }
  }
  sink "file" {
    config { paht = "/var/run/vault/token" }
  }
}
