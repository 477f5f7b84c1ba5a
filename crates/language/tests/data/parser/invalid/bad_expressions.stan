parameters {
  real mu;
}
model {
  real a = (1 + ;
  real b = mu + * 2;
  real c = foo(mu | 1);
  real d = {};
  real e = "text";
  real f = 99999999999999999999;
  real g = 1e+;
  mu ~ normal(0, 1) T[0;
  target += true;
}
