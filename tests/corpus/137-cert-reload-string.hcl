auto_auth {
  method "cert" {
    config {
      client_cert = "/etc/vault/client.pem"
      client_key  = "/etc/vault/client-key.pem"
      reload      = "sometimes"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
