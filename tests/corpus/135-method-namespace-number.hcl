auto_auth {
  method "kubernetes" {
    namespace = 7
    config { role = "web" }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
