package pg

import (
	"reflect"
	"testing"
)

func TestTextColumns(t *testing.T) {
	row := [][]byte{[]byte("arrakis"), []byte("42"), []byte("8.25"), []byte("t"), []byte("{12,345}"), nil, []byte("{}")}
	if text(row, 0) != "arrakis" || integer(row, 1) != 42 || float(row, 2) != 8.25 || !boolean(row, 3) {
		t.Errorf("scalars: %q %d %g %v", text(row, 0), integer(row, 1), float(row, 2), boolean(row, 3))
	}
	if got := int32Array(row, 4); !reflect.DeepEqual(got, []int32{12, 345}) {
		t.Errorf("int[] = %v", got)
	}
	if text(row, 5) != "" || integer(row, 5) != 0 || boolean(row, 5) || int32Array(row, 6) != nil || text(row, 99) != "" {
		t.Error("NULL, empty array or a missing column must read as the zero value")
	}
}
