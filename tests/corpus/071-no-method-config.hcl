auto_auth {
  method "approle" {}
  sink "file" { config { path = "/t" } }
}
