auto_auth {
  method "token_file" {
    config {
      token_path = "/etc/vault/token"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
