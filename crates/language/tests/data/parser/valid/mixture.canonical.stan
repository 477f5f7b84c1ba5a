data {
    int<lower=1> N;
    vector[N] y;
}

parameters {
    array[2] real<lower=0> p1;
    ordered[2] p2;
    real<lower=0, upper=1> p3;
}

model {
    p1 ~ lognormal(0, 2);
    p2 ~ normal(0, 10);
    p3 ~ beta(5, 5);
    for (l1 in 1:N) target += log_mix(p3, normal_lpdf(y[l1] | p2[1], p1[1]), normal_lpdf(y[l1] | p2[2], p1[2]));
}

generated quantities {
    vector[N] log_lik;
    for (l2 in 1:N) {
        log_lik[l2] = log_sum_exp(log(p3) + normal_lpdf(y[l2] | p2[1], p1[1]), log1m(p3) + normal_lpdf(y[l2] | p2[2], p1[2]));
    }
}
