auto_auth {
  method "jwt" {
    config {
      path            = "/etc/vault/jwt"
      role            = "web"
      jwt_read_period = "10s"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
