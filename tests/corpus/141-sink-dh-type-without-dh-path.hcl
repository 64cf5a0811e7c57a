auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "/etc/vault/roleid"
      secret_id_file_path = "/etc/vault/secretid"
    }
  }
  sink "file" {
    dh_type = "curve25519"
    config { path = "/var/run/vault/token" }
  }
}
