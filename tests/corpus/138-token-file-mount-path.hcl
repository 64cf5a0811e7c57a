auto_auth {
  method "token_file" {
    mount_path = "auth/approle"
    config { token_file_path = "/etc/vault/token" }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
