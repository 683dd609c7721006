// python_repr must print what Python 3's repr(float) prints.
#include "ltrt/python_repr.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace {

using ltrt::python_repr;

TEST(PythonRepr, FixedNotation) {
  EXPECT_EQ(python_repr(0.1), "0.1");
  EXPECT_EQ(python_repr(1.0), "1.0");
  EXPECT_EQ(python_repr(2.5), "2.5");
  EXPECT_EQ(python_repr(100.0), "100.0");
  EXPECT_EQ(python_repr(0.0), "0.0");
  EXPECT_EQ(python_repr(-0.0), "-0.0");
  EXPECT_EQ(python_repr(-3.25), "-3.25");
  EXPECT_EQ(python_repr(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(python_repr(0.0001), "0.0001");
  EXPECT_EQ(python_repr(0.00012), "0.00012");
  EXPECT_EQ(python_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(python_repr(9999999999999998.0), "9999999999999998.0");
  EXPECT_EQ(python_repr(123.456), "123.456");
}

TEST(PythonRepr, ExponentNotation) {
  EXPECT_EQ(python_repr(1e-05), "1e-05");
  EXPECT_EQ(python_repr(1.5e-05), "1.5e-05");
  EXPECT_EQ(python_repr(1e16), "1e+16");
  EXPECT_EQ(python_repr(1.2345678901234568e+17), "1.2345678901234568e+17");
  EXPECT_EQ(python_repr(1.5e300), "1.5e+300");
  EXPECT_EQ(python_repr(-2e-100), "-2e-100");
  EXPECT_EQ(python_repr(5e-324), "5e-324");
  EXPECT_EQ(python_repr(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
}

TEST(PythonRepr, FloatTensorItem) {
  // torch.tensor(0.97).item() is the float32 value widened to double.
  EXPECT_EQ(python_repr(static_cast<double>(0.97f)), "0.9700000286102295");
  EXPECT_EQ(python_repr(static_cast<double>(0.5f)), "0.5");
}

TEST(PythonRepr, NonFinite) {
  EXPECT_EQ(python_repr(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(python_repr(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(python_repr(std::nan("")), "nan");
  EXPECT_EQ(python_repr(-std::nan("")), "nan");
}

}  // namespace
