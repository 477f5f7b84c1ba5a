functions {
  real f(real x) { return x; }
}
model {
  x = 1;
}
data {
  int N;
}
transformed stuff {
}
model {
}
generated quantities {
  break;
  else x = 1;
  y ~ normal(0, 1)
