// SimpleProfiler: Python's format(x, ".5") for the report's numbers (values from CPython 3.11),
// the report's rows and order, and the actions' bookkeeping.
#include "ltrt/simple_profiler.hpp"

#include <gtest/gtest.h>

#include <string>

#include "ltrt/error.hpp"

namespace {

TEST(SimpleProfiler, PythonFormat5) {
  EXPECT_EQ(ltrt::python_format_5(2.0), "2.0");
  EXPECT_EQ(ltrt::python_format_5(100.0), "100.0");
  EXPECT_EQ(ltrt::python_format_5(0.5), "0.5");
  EXPECT_EQ(ltrt::python_format_5(56.784123), "56.784");
  EXPECT_EQ(ltrt::python_format_5(0.0021191234), "0.0021191");
  EXPECT_EQ(ltrt::python_format_5(0.00012345678), "0.00012346");
  EXPECT_EQ(ltrt::python_format_5(2.5748e-06), "2.5748e-06");
  EXPECT_EQ(ltrt::python_format_5(1e-05), "1e-05");
  EXPECT_EQ(ltrt::python_format_5(123456.7), "1.2346e+05");
  EXPECT_EQ(ltrt::python_format_5(12345.0), "1.2345e+04");
  EXPECT_EQ(ltrt::python_format_5(1234.5), "1234.5");
  EXPECT_EQ(ltrt::python_format_5(120000.0), "1.2e+05");
  EXPECT_EQ(ltrt::python_format_5(9.99996), "10.0");
  EXPECT_EQ(ltrt::python_format_5(99999.7), "1e+05");
  EXPECT_EQ(ltrt::python_format_5(0.000099999), "9.9999e-05");
  EXPECT_EQ(ltrt::python_format_5(0.0), "0.0");
}

TEST(SimpleProfiler, ReportRowsByShare) {
  ltrt::SimpleProfiler p(true);
  for (int i = 0; i < 3; ++i) {
    p.start("quick");
    p.stop("quick");
  }
  p.start("outer");
  p.start("inner");
  volatile double x = 0;
  for (int i = 0; i < 200000; ++i) x = x + i;
  p.stop("inner");
  p.stop("outer");
  const std::string s = p.summary("fit");
  EXPECT_EQ(s.rfind("FIT Profiler Report\n\n---", 0), 0u) << s;
  // Total counts every call; "outer" holds "inner", so it comes first, "quick" last.
  EXPECT_NE(s.find("|  Total\t|  -              \t|  5              \t|"), std::string::npos) << s;
  const auto outer = s.find("|  outer"), inner = s.find("|  inner"), quick = s.find("|  quick");
  EXPECT_LT(outer, inner);
  EXPECT_LT(inner, quick);
  EXPECT_NE(quick, std::string::npos);
  EXPECT_EQ(s.back(), '\n');
}

TEST(SimpleProfiler, ActionsStartOnceAndStopAfterStarting) {
  ltrt::SimpleProfiler p(false);
  p.start("a");
  EXPECT_THROW(p.start("a"), ltrt::Error);
  p.stop("a");
  EXPECT_THROW(p.stop("a"), ltrt::Error);
  const std::string s = p.summary("validate");
  EXPECT_EQ(s.rfind("VALIDATE Profiler Report\n", 0), 0u);
  EXPECT_EQ(s.find("Num calls"), std::string::npos);  // not extended: mean and total only
}

}  // namespace
