auto_auth {
  sink "file" { config { path = "/t" } }
}
