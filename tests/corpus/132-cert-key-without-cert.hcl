auto_auth {
  method "cert" {
    config {
      name       = "web"
      client_key = "/etc/vault/client-key.pem"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
