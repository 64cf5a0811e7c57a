auto_auth {
  method "jwt" {
    config {
      path                  = "/etc/vault/jwt"
      role                  = "web"
      remove_jwt_after_read = false
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
