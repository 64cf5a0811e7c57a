auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "${HOME}/role-id"
      secret_id_file_path = "$HOME/secret-id"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
