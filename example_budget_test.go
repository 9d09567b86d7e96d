package refit_test

import (
	"errors"
	"fmt"

	"github.com/refit-ml/refit"
)

func ExampleBudget() {
	size, err := refit.ParseSize("1MiB")
	if err != nil {
		panic(err)
	}
	b := refit.NewBudget(size)
	fmt.Println(b.Charge(600<<10, "pickled objects"))
	err = b.Charge(600<<10, "pickled objects")
	fmt.Println(err)
	fmt.Println(errors.Is(err, refit.ErrBudget))
	// Output:
	// <nil>
	// pickled objects exceed the memory budget of 1 MiB
	// true
}
