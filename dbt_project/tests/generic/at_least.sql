{#- Rows whose column is less than column `other` of the same row (A >= B: no more converted than leads). -#}
{% test at_least(model, column_name, other) %}

select *
from {{ model }}
where {{ column_name }} < {{ other }}

{% endtest %}
