auto_auth {
  method "jwt" {
    config {
      path = "/etc/vault/jwt"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
