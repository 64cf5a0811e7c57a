auto_auth {
  method "kubernetes" {
    config {
      role                     = "web"
      remove_jwt_after_reading = false
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
