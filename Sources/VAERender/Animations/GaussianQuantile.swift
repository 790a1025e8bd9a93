import Foundation

/// Φ⁻¹(p), the standard normal quantile, for p in (0, 1); ±infinity at 0 and 1.
///
/// Acklam's rational approximation (relative error below 1.2e-9) followed by one Halley step
/// on Φ(x) − p, which brings it to full double precision.
public func inverseNormalCDF(_ p: Double) -> Double {
    precondition(p >= 0 && p <= 1, "a probability must lie in [0, 1]")
    if p == 0 { return -.infinity }
    if p == 1 { return .infinity }
    let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
    let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
             6.680131188771972e+01, -1.328068155288572e+01]
    let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
    let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]

    /// The tail formula for the lower tail probability `tail`; the upper tail mirrors it.
    func lowerTail(_ tail: Double) -> Double {
        let q = (-2 * log(tail)).squareRoot()
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
            / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    }
    let tailLimit = 0.02425
    var x: Double
    if p < tailLimit {
        x = lowerTail(p)
    } else if p > 1 - tailLimit {
        x = -lowerTail(1 - p)
    } else {
        let q = p - 0.5, r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }
    let error = 0.5 * erfc(-x / 2.0.squareRoot()) - p
    let u = error * (2 * Double.pi).squareRoot() * exp(x * x / 2)
    x -= u / (1 + x * u / 2)
    return x
}
