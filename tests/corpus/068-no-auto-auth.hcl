template {
  contents    = "{{kv \"secret/app\" \"k\"}}"
  destination = "/srv/out.txt"
}
