auto_auth {
  method "cert" {
    config {
      name               = "web"
      client_certificate = "/etc/vault/client.pem"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
