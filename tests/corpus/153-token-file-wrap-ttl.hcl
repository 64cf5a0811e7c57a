auto_auth {
  method "token_file" {
    wrap_ttl = "2m"
    config {
      token_file_path = "/etc/vault/token"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
