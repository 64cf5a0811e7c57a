auto_auth {
  method "kubernetes" {
    config {
      token_path = "/var/run/secrets/tokens/vault"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
