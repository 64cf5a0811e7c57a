auto_auth {
  method "token_file" {
    config {}
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
